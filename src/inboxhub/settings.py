"""All configuration in one place (pydantic-settings, env prefix ``INBOXHUB_``).

The URLs choose the adapters (see ``runtime.py``); every default is the embedded
one, rooted in ``data_dir`` so that ``inboxhub run`` needs no server at all.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INBOXHUB_", env_file=".env", extra="ignore", validate_default=True
    )

    data_dir: Path = Path("./.inboxhub")
    host: str = "127.0.0.1"
    port: int = 8080

    bus_url: str = ""
    blob_url: str = ""
    documents_url: str = ""
    search_url: str = ""
    database_url: str = ""
    secret_key: str = ""

    admin_email: str = "admin@example.com"
    admin_password: str = ""
    default_tenant: str = "default"

    # Tokens (auth service).
    jwt_issuer: str = "inboxhub"
    jwt_audience: str = "inboxhub-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    # Gateway (docs/gateway.md). Rate limits are token buckets in each process, in
    # requests per minute (a client may burst up to that many); 0 = no limit.
    rate_limit_enabled: bool = True
    rate_limit_user_per_minute: int = 1200  # per user (verified token)
    rate_limit_tenant_per_minute: int = 6000  # all users of one tenant together
    rate_limit_anonymous_per_minute: int = 600  # per client address, without a valid token
    rate_limit_sign_in_per_minute: int = 60  # per client address: login, reset, SSO, invitations
    max_body_bytes: int = 1024 * 1024  # larger request bodies: 413
    # Browser origins allowed to call the API (CORS), e.g. https://mail.example.com;
    # JSON list or comma-separated. Empty: no cross-origin access.
    cors_origins: Annotated[list[str], NoDecode] = []
    # Services run apart (`inboxhub serve api` ...) verify tokens against the Auth
    # service's JWKS at this URL (e.g. http://auth:8080/.well-known/jwks.json),
    # cached; "" = read the signing keys from the database as the Auth service does.
    auth_jwks_url: str = ""
    auth_jwks_max_age_seconds: float = 300.0  # fetch again after this long
    auth_jwks_min_refresh_seconds: float = 10.0  # at most one fetch per this long

    # A process meeting a token signed by a key it does not know reloads the keys from
    # the database (after a rotation elsewhere), at most once per this many seconds.
    signing_keys_reload_seconds: float = 10.0
    # Revoked access tokens (logout, user deleted or suspended) are looked up in the
    # database; a process remembers an answer this long, so another process's
    # revocation takes effect within it (the process that revokes sees it at once).
    token_revocation_cache_seconds: float = 5.0

    # Local accounts (services/auth, docs/auth.md). After `login_max_failures` failed
    # sign-ins (password or TOTP) counted within `login_failure_window_seconds` of each
    # other, the account (tenant + email) is locked for `login_lockout_seconds`,
    # doubled for each further failure, at most `login_lockout_max_seconds`; a source
    # IP likewise after `login_max_failures_per_ip` (higher: offices share addresses).
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 50
    login_failure_window_seconds: int = 3600
    login_lockout_seconds: int = 30
    login_lockout_max_seconds: int = 900
    password_min_length: int = 10
    password_reset_ttl_seconds: int = 1800  # a reset link works once, this long
    password_resets_per_hour: int = 5  # reset mails to one address; more are dropped
    mfa_ticket_ttl_seconds: int = 300  # between the password and the TOTP code
    totp_issuer: str = "inboxhub"  # the name authenticator apps show

    # Event bus behaviour shared by every adapter. Partitions bound how many members of
    # one consumer group work at once (Kafka); replication and retention apply to
    # the topics inboxhub creates.
    bus_partitions: int = 4
    bus_replication_factor: int = 1
    bus_retention_ms: int | None = None  # None: the broker's default
    # A name for this process that stays the same across its restarts and differs
    # from every other replica of its service (e.g. a StatefulSet pod's name,
    # processor-0). With it, Kafka consumer groups use static membership (KIP-345):
    # a restarted replica takes its partitions back at once, without a rebalance.
    # "" = dynamic membership. Ignored by the embedded bus.
    instance_id: str = ""
    consumer_max_attempts: int = 5
    consumer_backoff_seconds: float = 0.2
    consumer_batch_size: int = 1024

    # Limits on what one message may cost the processor.
    max_message_bytes: int = 64 * 1024 * 1024
    max_mime_parts: int = 2000
    max_mime_depth: int = 40
    max_header_bytes: int = 1024 * 1024
    processor_workers: int = Field(default=0, description="parse processes; 0 = auto")
    # A message naming no parent but titled "Re: x" joins the newest conversation
    # about "x" active within this many days of its date.
    thread_subject_window_days: float = 30.0
    # Text of attachments, read for search by the processor (inboxhub.extract): what
    # one attachment may cost, so a hostile file cannot stall the pipeline.
    attachment_text: bool = True
    attachment_text_max_bytes: int = 25 * 1024 * 1024  # larger attachments are not read
    attachment_text_max_chars: int = 500_000  # text kept per attachment
    attachment_text_message_max_chars: int = 1_000_000  # per message: a search body's worth
    attachment_text_seconds: float = 5.0  # per attachment
    attachment_text_max_unpacked_bytes: int = 100 * 1024 * 1024  # of a DOCX/XLSX/PPTX/ODF zip

    # Server-side encryption for the S3 blob store: "", "AES256" or "aws:kms".
    blob_sse: str = ""
    blob_sse_kms_key_id: str = ""

    # Bring the relational schema to head on start. The distributed deployment runs
    # `inboxhub migrate` once (a job) and may switch this off in the services.
    auto_migrate: bool = True

    # The fetcher (services/fetcher): leases spread mailboxes over fetcher processes;
    # a dead process's mailboxes are taken over once its lease expires.
    fetcher_lease_seconds: float = 30.0
    fetcher_poll_seconds: float = 60.0  # sync again after this long without push
    fetcher_max_backoff_seconds: float = 300.0
    # IDLE connections per mailbox when the server lacks NOTIFY; with the syncing one
    # that makes 10, Dovecot's default limit per user and address.
    imap_max_idle_connections: int = 9
    # Hosts a tenant admin enters (IMAP, EWS) may not be loopback, private,
    # link-local or cloud-metadata addresses unless an operator allows it.
    allow_private_mail_hosts: bool = False
    mail_tls_ca_file: str = ""  # extra CA certificates trusted for IMAP/EWS servers
    local_mail_root: str = ""  # tenant admins may connect archives under it; "" = none
    # Where providers reach this deployment (OAuth redirects, push notifications).
    public_url: str = "http://127.0.0.1:8080"

    # Google (Gmail API) and Microsoft (Graph). The URLs are the documented
    # endpoints; tests point them at local fakes.
    google_client_id: str = ""
    google_client_secret: str = ""
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    gmail_api_url: str = "https://gmail.googleapis.com"
    gmail_pubsub_topic: str = ""  # projects/P/topics/T for users.watch; "" = poll
    gmail_push_token: str = ""  # shared secret in the Pub/Sub push endpoint's URL
    microsoft_client_id: str = ""
    microsoft_client_secret: str = ""
    microsoft_tenant: str = "common"  # or the directory id for application permissions
    microsoft_login_url: str = "https://login.microsoftonline.com"
    graph_api_url: str = "https://graph.microsoft.com/v1.0"

    # The platform's own mail (password resets, invitations): "" = .eml files in
    # <data>/system-mail; smtp://user:pass@host:587 or smtps://host:465 to send.
    system_mail_url: str = ""
    system_mail_from: str = "inboxhub <no-reply@localhost>"

    # Tenant administration (services/tenants): domain ownership is shown by a DNS TXT
    # record, looked up through these name servers (host or host:port; [] = the
    # system's resolv.conf); invitations are valid this long.
    dns_nameservers: list[str] = []
    invitation_ttl_hours: float = 7 * 24

    # Sending (services/sender, docs/sending.md). Quotas count the messages submitted
    # for sending (not drafts, not cancelled ones) in the last 24 hours; 0 = no quota.
    # A message's size is its text, HTML and attachments before MIME encoding.
    send_quota_user_per_day: int = 500
    send_quota_tenant_per_day: int = 5000
    send_max_bytes: int = 25 * 1024 * 1024
    send_max_recipients: int = 100  # to + cc + bcc of one message
    # The outbox worker: a temporary failure is retried after a backoff doubling from
    # ``send_retry_base_seconds`` up to ``send_retry_max_seconds`` (with jitter), until
    # ``send_max_attempts`` attempts or ``send_max_age_seconds`` after submission.
    send_max_attempts: int = 8
    send_max_age_seconds: float = 2 * 24 * 3600
    send_retry_base_seconds: float = 30.0
    send_retry_max_seconds: float = 3600.0
    send_poll_seconds: float = 0.5  # how often a worker looks for due messages
    send_lease_seconds: float = 300.0  # a worker's hold on a message while it sends it
    send_concurrency: int = 8  # messages one worker sends at once
    upload_max_bytes: int = 25 * 1024 * 1024  # one uploaded attachment
    upload_ttl_hours: float = 7 * 24  # an upload can be attached this long

    # Webhooks (services/webhooks, docs/notifications.md): https only unless
    # ``webhook_allow_http``; never to internal addresses unless
    # ``webhook_allow_private_hosts`` (tests run their receivers on loopback). Retries
    # wait these many seconds (with jitter) after attempts 1, 2, ...; after the last
    # the delivery failed. A subscription is disabled after
    # ``webhook_disable_after_failures`` failed deliveries in a row, or when a
    # delivery fails and none succeeded for ``webhook_disable_after_hours``.
    webhook_allow_http: bool = False
    webhook_allow_private_hosts: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 16
    webhook_retry_seconds: list[float] = [30, 120, 600, 3600, 6 * 3600, 12 * 3600, 24 * 3600]
    webhook_retry_jitter: float = 0.2  # each wait is stretched or shrunk by up to this share
    webhook_disable_after_failures: int = 15
    webhook_disable_after_hours: float = 72.0
    webhook_secret_grace_hours: float = 24.0  # the old secret signs too after a rotation
    webhook_poll_seconds: float = 1.0  # how often a worker looks for due deliveries
    webhook_cache_seconds: float = 5.0  # subscriptions are cached this long per tenant
    webhook_log_retention_days: float = 30.0  # finished deliveries are deleted after

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        d = self.data_dir.expanduser().absolute()
        self.data_dir = d
        self.bus_url = self.bus_url or f"sqlite:///{d}/bus.db"
        self.blob_url = self.blob_url or f"file://{d}/blobs"
        self.documents_url = self.documents_url or f"sqlite:///{d}/emails.db"
        self.search_url = self.search_url or f"sqlite:///{d}/search.db"
        self.database_url = self.database_url or f"sqlite+aiosqlite:///{d}/inboxhub.db"
        self.system_mail_url = self.system_mail_url or f"file://{d}/system-mail"
        return self

    def ensure_data_dir(self) -> None:
        """Create the data dir and, on first use, its generated secret key."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.secret_key:
            return
        key_file = self.data_dir / "secret.key"
        if not key_file.exists():
            tmp = key_file.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(key_file)
        self.secret_key = key_file.read_text().strip()


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.ensure_data_dir()
    return settings
