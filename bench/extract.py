"""What reading attachments for their text costs the processor, per format and per
message: one JSON line on stdout.

Real files made by the libraries that write them (``tests/support/attachments.py``:
fpdf2, python-docx, openpyxl, python-pptx, odfpy, so the ``test`` extra must be
installed), each of an ordinary size, read on one core; times are CPU time.
``build_ms`` is the whole document step of the processor (parse, sanitise, hash,
extract, serialise) for a message carrying that attachment, ``build_without_ms`` the
same with extraction off: their difference is what extraction adds to such a message.

Usage: python bench/extract.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inboxhub.domain.events import EmlUploaded
from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import ParsedAttachment
from inboxhub.extract import ExtractLimits, attachment_text
from inboxhub.mime.parse import ParseLimits
from inboxhub.services.processor.document import Source, build
from tests.support import attachments as files
from tests.support.messages import make_message

WORDS = [
    "budget",
    "quarterly",
    "revenue",
    "forecast",
    "meeting",
    "agenda",
    "customer",
    "invoice",
    "delivery",
    "schedule",
    "contract",
    "review",
    "approval",
    "project",
    "milestone",
    "report",
    "summary",
]


def sentence(i: int, n: int = 12) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(n)).capitalize() + "."


def samples() -> dict[str, tuple[str, str, bytes]]:
    """Ordinary attachments: a few pages, a few hundred rows, ten slides."""
    paragraphs = [sentence(i, 25) for i in range(60)]
    return {
        "pdf": (
            "report.pdf",
            "application/pdf",
            files.pdf(*("\n".join(sentence(p * 40 + i) for i in range(40)) for p in range(3))),
        ),
        "docx": (
            "minutes.docx",
            files.DOCX_TYPE,
            files.docx(paragraphs, table=[[sentence(r, 3) for _ in range(4)] for r in range(20)]),
        ),
        "xlsx": (
            "figures.xlsx",
            files.XLSX_TYPE,
            files.xlsx(
                {"Data": [[WORDS[r % 16], r, r * 1.5, f"row {r}", True] for r in range(500)]}
            ),
        ),
        "pptx": (
            "deck.pptx",
            files.PPTX_TYPE,
            files.pptx([(sentence(s, 4), sentence(s, 30), sentence(s + 1)) for s in range(10)]),
        ),
        "odt": ("notes.odt", files.ODT_TYPE, files.odt(paragraphs)),
        "html": (
            "page.html",
            "text/html",
            (
                "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
            ).encode(),
        ),
        "csv": (
            "export.csv",
            "text/csv",
            "\n".join(f"{r};{WORDS[r % 16]};{r * 3}" for r in range(1000)).encode(),
        ),
        "eml": (
            "forwarded.eml",
            "message/rfc822",
            files.eml(
                "Fwd", sentence(1, 60), [("m.docx", files.DOCX_TYPE, files.docx(paragraphs))]
            ),
        ),
    }


def median_ms(work: Callable[[], object], runs: int) -> float:
    """CPU milliseconds (the median run): what the work costs a parse worker, less
    sensitive than wall time to whatever else the machine is doing."""
    work()  # warm: imports, caches
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return round(statistics.median(times) * 1000, 2)


def source(raw: bytes) -> Source:
    upload = EmlUploaded(
        mailbox_id="bench",
        provider_message_id="p",
        blob_key="t/bench/eml/" + sha256_hex(raw),
        sha256=sha256_hex(raw),
        size=len(raw),
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return Source("bench", upload)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    on, off, limits = ExtractLimits(), ExtractLimits(enabled=False), ParseLimits()
    formats = {}
    for kind, (filename, ctype, data) in samples().items():
        part = ParsedAttachment(filename=filename, content_type=ctype, data=data)
        text = attachment_text([part], on)
        assert not text.errors, text.errors
        raw = make_message("Bench", text=sentence(0, 40), attachments=[(filename, ctype, data)])
        if ctype == "message/rfc822":
            raw = files.eml("Bench", sentence(0, 40), messages=[data])
        src = source(raw)
        formats[kind] = {
            "bytes": len(data),
            "text_chars": len(text.text),
            "extract_ms": median_ms(lambda p=part: attachment_text([p], on), args.runs),
            "build_ms": median_ms(lambda s=src, r=raw: build(s, r, limits, on), args.runs),
            "build_without_ms": median_ms(lambda s=src, r=raw: build(s, r, limits, off), args.runs),
        }
    added = [f["build_ms"] - f["build_without_ms"] for f in formats.values()]
    print(
        json.dumps(
            {
                "bench": "extract",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "runs": args.runs,
                "formats": formats,
                "median_added_ms_per_message": round(statistics.median(added), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
