"""All configuration in one place (pydantic-settings, env prefix ``INBOXHUB_``).

The URLs choose the adapters (see ``runtime.py``); every default is the embedded
one, rooted in ``data_dir`` so that ``inboxhub run`` needs no server at all.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    # Event bus behaviour shared by every adapter. Partitions bound how many members of
    # one consumer group work at once (Kafka); replication and retention apply to
    # the topics inboxhub creates.
    bus_partitions: int = 4
    bus_replication_factor: int = 1
    bus_retention_ms: int | None = None  # None: the broker's default
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

    log_level: str = "INFO"
    log_json: bool = False

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
