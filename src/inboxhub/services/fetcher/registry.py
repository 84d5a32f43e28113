"""Provider name → its connector module (imported only when used).

Each module in ``providers/`` exposes ``SETTINGS`` (a ``ConnectorSettings`` model:
what ``POST /api/v1/mailboxes`` takes as ``settings``) and ``CONNECTOR`` (built as
``CONNECTOR(settings, secrets, ctx)``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from inboxhub.domain.errors import InvalidInput
from inboxhub.providers.base import ConnectorSettings

PROVIDERS = ("imap", "gmail", "graph", "ews", "local")
OAUTH_PROVIDERS = ("gmail", "graph")


def module(provider: str) -> ModuleType:
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    return importlib.import_module(f"inboxhub.providers.{provider}")


def settings_model(provider: str) -> type[ConnectorSettings]:
    model: type[ConnectorSettings] = module(provider).SETTINGS
    return model


def validate(provider: str, settings: dict[str, Any]) -> ConnectorSettings:
    """The provider's settings model, or ``InvalidInput`` listing what is wrong."""
    try:
        return settings_model(provider).model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"invalid {provider} settings: {problems}") from exc


def split_secrets(
    provider: str, config: ConnectorSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings, secret fields) of a validated settings model."""
    secret_names = settings_model(provider).SECRET_FIELDS
    values = config.model_dump(mode="json")
    public = {k: v for k, v in values.items() if k not in secret_names}
    secrets = {k: v for k, v in values.items() if k in secret_names and v is not None}
    return public, secrets
