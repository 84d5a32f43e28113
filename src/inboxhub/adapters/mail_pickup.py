"""The embedded ``Mailer``: each message becomes an ``.eml`` file in a pickup
directory (``<data>/system-mail`` by default), for an operator without an SMTP
server to read reset links and invitations from."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from pathlib import Path


class PickupMailer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message.as_bytes())

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = uuid.uuid4().hex
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.chmod(0o600)  # reset links are secrets
        tmp.replace(self.directory / f"{name}.eml")

    async def close(self) -> None:
        return None
