"""The ASGI app: mounts the routers of the services this process serves.

In ``inboxhub run`` that is all of them behind one origin; ``inboxhub serve api``
mounts only the Email API (the distributed gateway, Traefik, routes by prefix).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI

from inboxhub import __version__
from inboxhub.runtime import Container
from inboxhub.services.api.access import MailAccess
from inboxhub.services.api.changes import build_router as changes_router
from inboxhub.services.api.mail_routes import build_router as mail_router
from inboxhub.services.api.routes import EmailApi
from inboxhub.services.api.routes import build_router as email_router
from inboxhub.services.api.threads import build_router as threads_router
from inboxhub.services.audit.context import AuditContextMiddleware
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.audit.refusals import refusal_recorder
from inboxhub.services.audit.routes import build_router as audit_router
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.account_routes import build_account_router as account_router
from inboxhub.services.auth.routes import build_router as auth_router
from inboxhub.services.auth.sso.routes import build_routers as sso_routers
from inboxhub.services.gateway import edge, health, problems
from inboxhub.services.notifications.routes import build_router as events_router
from inboxhub.services.sender.routes import router_for as sender_router
from inboxhub.services.tenants.dkim_routes import build_router as dkim_router
from inboxhub.services.tenants.domain_routes import build_router as domain_router
from inboxhub.services.tenants.gate import require_active_tenant
from inboxhub.services.tenants.routes import build_push_routers
from inboxhub.services.tenants.routes import build_router as tenants_router
from inboxhub.services.tenants.tenant_routes import build_router as tenant_admin_router
from inboxhub.services.tenants.user_routes import build_router as user_router
from inboxhub.services.web import static as web_static
from inboxhub.services.webhooks.routes import build_router as webhooks_router


def create_app(
    c: Container,
    verify_token: Callable[[str], Any],
    services: tuple[str, ...],
    auth: AuthService | None = None,
) -> FastAPI:
    app = FastAPI(
        title="inboxhub",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.verify_token = verify_token
    app.state.require_active_tenant = partial(require_active_tenant, c.directory)
    # The Auth service's own checks: revoked access tokens (services/auth/revocation.py)
    # and signing keys rotated by another process (reloaded on an unknown kid).
    app.state.check_token = auth.check_token if auth is not None else None
    if auth is not None and verify_token == auth.tokens.verify_access:
        app.state.verify_token = auth.tokens.verify
    problems.install(app, refusal_recorder(AuditLog(c.bus)))  # refusals are audited
    edge.install(app, c.settings)  # request ids, headers, CORS, limits
    app.add_middleware(AuditContextMiddleware)  # the caller's user agent, for audit records
    app.include_router(
        health.build_router(
            {
                "bus": c.bus_ping,
                "blobs": c.blobs.ping,
                "documents": c.emails.ping,
                "search": c.search.ping,
                "database": c.directory.ping,
            }
        )
    )
    everything = "gateway" in services
    access = MailAccess(c.directory, c.access, AuditLog(c.bus))  # who reads which mail
    if auth is not None and (everything or "auth" in services):
        app.include_router(auth_router(auth))
        app.include_router(account_router(auth))
        for router in sso_routers(c, auth):  # single sign-on and its config
            app.include_router(router)
    if everything or "tenants" in services:
        app.include_router(tenants_router(c))
        for router in build_push_routers(c):
            app.include_router(router)
        app.include_router(audit_router(c.audit, AuditLog(c.bus)))
        app.include_router(domain_router(c))
        app.include_router(dkim_router(c))
        if auth is not None:  # tenants, users, invitations (services/tenants)
            app.include_router(tenant_admin_router(c, auth))
            app.include_router(user_router(c, auth))
    if everything or "api" in services:
        api = EmailApi(
            c.emails, c.search, c.blobs, c.directory, AuditLog(c.bus), c.bus, c.sync, access
        )
        app.include_router(email_router(api))
        app.include_router(mail_router(api))
        app.include_router(changes_router(api))
        app.include_router(threads_router(api))
        app.include_router(sender_router(c, access))  # compose, drafts, outbox, uploads
    if everything or "notifications" in services:
        app.include_router(events_router(c.notifications, access))
    if everything or "webhooks" in services:
        app.include_router(webhooks_router(c))
    if everything:  # the web inbox at / (after every router: it answers what they do not)
        web_static.install(app)
    return app
