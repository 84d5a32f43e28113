"""Reading an adapter's settings from its URL's query (``?name=value&…``).

Each production adapter declares which names its URL may carry and how to read
each value; an unknown name or a bad value is a ``ValueError`` naming it, never a
silently ignored typo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

Reader = Callable[[str], Any]


def flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def query_options(query: str, readers: Mapping[str, Reader], what: str) -> dict[str, Any]:
    """The settings in ``query``, each read by its reader; ``what`` names the URL kind
    in errors (e.g. "S3 blob URL"). Values are percent-decoded only: a ``+`` (common
    in secret keys) stays a ``+``."""
    settings: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        raw_name, _, raw_text = pair.partition("=")
        name, text = unquote(raw_name), unquote(raw_text)
        if name not in readers:
            known = ", ".join(sorted(readers))
            raise ValueError(f"unknown {what} setting {name!r} (known: {known})")
        try:
            settings[name] = readers[name](text)
        except ValueError:
            raise ValueError(f"bad value for {what} setting {name!r}: {text!r}") from None
    return settings
