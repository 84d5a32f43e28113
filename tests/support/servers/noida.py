"""noida-db: one process speaking the Kafka protocol and the Elasticsearch 8 API."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.support.servers.base import ServerProcess, find_program, free_ports


class Noida:
    def __init__(self) -> None:
        program = find_program("noida-db", "pip install noida-db==0.2.3")
        self.root = Path(tempfile.mkdtemp(prefix="inboxhub-noida-"))
        self.kafka_port, self.elastic_port = free_ports(2)
        self.server = ServerProcess(
            "noida-db",
            [
                program, "start",
                "--data-dir", str(self.root / "data"),
                "--host", "127.0.0.1",
                "--only", "kafka,elasticsearch",
                "--kafka-port", str(self.kafka_port),
                "--elasticsearch-port", str(self.elastic_port),
            ],
            self.root,
        )  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def elastic_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.elastic_port}"

    def start(self) -> Noida:
        self.server.start(self.kafka_port)
        self.server.wait_ready(self.elastic_port)
        return self

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)
