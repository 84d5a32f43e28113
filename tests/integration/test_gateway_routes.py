"""deploy/traefik/dynamic.yml routes every path the services serve to a process
that serves it: each route of the whole app (``inboxhub run``) matches exactly one
Traefik router at the highest matching priority, and the ``inboxhub serve <svc>``
behind that router mounts the route. A router prefix added in a service without a
Traefik rule (it would fall to the Email API's catch-all) fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from inboxhub.runtime import Container, build_auth
from inboxhub.services.gateway.app import create_app

DYNAMIC = Path(__file__).resolve().parents[2] / "deploy" / "traefik" / "dynamic.yml"
_MATCHER = re.compile(r"(Path|PathPrefix)\(`([^`]*)`\)")


_WITH_TOKEN = re.compile(r"HeaderRegexp\(`Authorization`, `\.\+`\)\s*&&\s*\((?P<rest>.*)\)", re.S)


class Rule:
    """The subset of Traefik's rule language dynamic.yml uses: Path and PathPrefix
    matchers joined by ``||``, optionally all of it behind ``HeaderRegexp(`Authorization`,
    `.+`) &&``. Anything else fails loudly (extend this, then)."""

    def __init__(self, text: str) -> None:
        token = _WITH_TOKEN.fullmatch(text.strip())
        self.needs_token = token is not None
        self.matchers = []
        for part in (token["rest"] if token else text).split("||"):
            m = _MATCHER.fullmatch(part.strip())
            assert m, f"unsupported rule part {part.strip()!r} in {text!r}"
            self.matchers.append((m[1], m[2]))

    def matches(self, path: str, with_token: bool) -> bool:
        if self.needs_token and not with_token:
            return False
        return any(
            path == value if kind == "Path" else path.startswith(value)
            for kind, value in self.matchers
        )


Table = dict[str, tuple[Rule, int, str]]


def routers() -> Table:
    config = yaml.safe_load(DYNAMIC.read_text())
    return {
        name: (Rule(r["rule"]), int(r.get("priority", 0)), r["service"])
        for name, r in config["http"]["routers"].items()
    }


def routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every HTTP route, documented or not."""
    out = set()
    for route in iter_route_contexts(app.routes):  # included routers flattened
        if route.path is not None:
            out |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return out


def sample(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def traefik_router(path: str, table: Table, with_token: bool = False) -> str:
    matching = [
        (prio, name) for name, (rule, prio, _) in table.items() if rule.matches(path, with_token)
    ]
    assert matching, f"no Traefik router matches {path}"
    top = max(p for p, _ in matching)
    winners = [name for p, name in matching if p == top]
    assert len(winners) == 1, f"{path} matches several routers at priority {top}: {winners}"
    return winners[0]


@pytest.fixture()
async def apps(container: Container) -> dict[str, FastAPI]:
    auth = await build_auth(container)
    names = {service for _, _, service in routers().values()} | {"gateway"}
    return {name: create_app(container, auth.tokens.verify_access, (name,), auth) for name in names}


def test_the_rules_are_understood_and_cover_the_known_areas() -> None:
    table = routers()
    expected = {
        "/api/v1/auth/login": "auth",
        "/.well-known/jwks.json": "auth",
        "/api/v1/authors": "api",  # a prefix is a whole path segment
        "/api/v1/tenants": "tenants",
        "/api/v1/users/u1": "tenants",
        "/api/v1/domains": "tenants",
        "/api/v1/invitations/i1/accept": "tenants",
        "/api/v1/events": "notifications",
        "/api/v1/ws": "notifications",  # WebSocket: no HTTP method, so listed here
        "/api/v1/webhooks/w1/deliveries": "webhooks",
        "/api/v1/emails": "api",
        "/metrics": "metrics",
        "/": "gateway",
    }
    got = {path: traefik_router(path, table) for path in expected}
    assert got == expected
    with_token = {path: table[traefik_router(path, table, True)][2] for path in expected}
    assert with_token == {p: table[r][2] for p, r in expected.items()}
    assert traefik_router("/api/v1/emails", table, with_token=True) == "api-token"


def test_each_token_router_repeats_its_twins_paths() -> None:
    table = routers()
    twins = [name for name, (rule, _, _) in table.items() if rule.needs_token]
    assert set(twins) == {"tenants-token", "notifications-token", "webhooks-token", "api-token"}
    for name in twins:
        rule, prio, service = table[name]
        base_rule, base_prio, base_service = table[name.removesuffix("-token")]
        assert (rule.matchers, prio, service) == (base_rule.matchers, base_prio + 1, base_service)


async def test_every_route_reaches_a_process_that_serves_it(apps: dict[str, FastAPI]) -> None:
    table = routers()
    wrong = []
    for method, template in sorted(routes(apps["gateway"])):
        for with_token in (False, True):
            router = traefik_router(sample(template), table, with_token)
            service = table[router][2]
            if (method, template) not in routes(apps[service]):
                wrong.append(f"{method} {template} -> router {router} -> {service}, which lacks it")
    assert not wrong, "\n".join(wrong)


async def test_the_api_paths_of_the_openapi_document_are_all_routed(
    apps: dict[str, FastAPI],
) -> None:
    """The same from the published document (what clients see), as a cross-check
    that no documented path hides from the route list above."""
    documented = set(apps["gateway"].openapi()["paths"])
    listed = {template for _, template in routes(apps["gateway"])}
    assert documented <= listed
