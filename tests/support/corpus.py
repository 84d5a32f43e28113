"""Where the shared corpus of real-world messages lives (never copied into the repo)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest


def corpus_dir() -> Path:
    override = os.environ.get("INBOXHUB_CORPUS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[3] / "shared" / "corpus"


def message_paths() -> list[Path]:
    """Every file MANIFEST.tsv lists as a message; skips the test if there is no corpus."""
    root = corpus_dir()
    manifest = root / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip(f"shared corpus not found at {root} (set INBOXHUB_CORPUS_DIR)")
    with manifest.open(newline="") as f:
        return [
            root / row["path"]
            for row in csv.DictReader(f, delimiter="\t")
            if row["kind"] == "message"
        ]
