"""SecantusDB: a MongoDB-wire server on WiredTiger."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.support.servers.base import ServerProcess, find_program, free_ports


class Secantus:
    def __init__(self) -> None:
        program = find_program("secantusd-py", "pip install secantusdb==0.7.0b3")
        self.root = Path(tempfile.mkdtemp(prefix="inboxhub-mongo-"))
        [self.port] = free_ports(1)
        self.server = ServerProcess(
            "secantusdb",
            [
                program,
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--storage-path", str(self.root / "data"),
                "--log-level", "WARNING",
            ],
            self.root,
        )  # fmt: skip

    def url(self, database: str) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self) -> Secantus:
        self.server.start(self.port)
        return self

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)
