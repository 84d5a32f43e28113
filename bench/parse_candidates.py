"""Which MIME parser to build on: speed AND fidelity, measured on the same messages.

Speed: msgs/s over generated realistic messages (bench/corpus.py). Robustness:
exceptions over every message of the shared corpus. Fidelity: agreement with the
expected output shipped with stalwart-mail-parser (subject, sender address, number
of attachments, start of the text body). One JSON line per candidate.
"""

from __future__ import annotations

import argparse
import csv
import email
import json
import re
import sys
import time
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

import fast_mail_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import write_corpus
from inboxhub.mime.parse import ParseLimits, parse_message

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
Extract = Callable[[bytes], tuple[str, str, int, str]]  # subject, from, attachments, text


def stdlib_default(raw: bytes) -> tuple[str, str, int, str]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    sender = msg["from"]
    addr = sender.addresses[0].addr_spec if sender is not None and sender.addresses else ""
    body = msg.get_body(("plain",))  # type: ignore[attr-defined]
    text = body.get_content() if body is not None else ""
    return str(msg["subject"] or ""), addr, len(list(msg.iter_attachments())), text  # type: ignore[attr-defined]


def inboxhub(fast: bool) -> Extract:
    limits = ParseLimits(fast_path=fast)

    def run(raw: bytes) -> tuple[str, str, int, str]:
        p = parse_message(raw, limits)
        return p.subject, p.from_.email if p.from_ else "", len(p.attachments), p.text

    return run


def fast_raw(raw: bytes) -> tuple[str, str, int, str]:
    m = fast_mail_parser.parse_email(raw)
    addr = m.from_.address if m.from_ else ""
    return m.subject or "", addr or "", len(m.attachments), "\n".join(m.text_plain)


CANDIDATES: dict[str, Extract] = {
    "stdlib policy.default": stdlib_default,
    "stdlib compat32 + inboxhub decoding": inboxhub(False),
    "fast-mail-parser alone": fast_raw,
    "inboxhub hybrid (fast path + compat32 fallback)": inboxhub(True),
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def expected(path: Path) -> tuple[str, str, int, str] | None:
    data = json.loads(path.read_text())
    top = data["parts"][0]
    subject, sender = "", ""
    for h in top["headers"]:
        value = h["value"]
        if h["name"] == "subject" and isinstance(value, dict) and "Text" in value:
            subject = value["Text"]
        if h["name"] == "from" and isinstance(value, dict) and "Address" in value:
            addr = value["Address"]
            first = addr.get("List", [None])[0] if "List" in addr else None
            if first is None and "Group" in addr:
                groups = addr["Group"]
                first = groups[0]["addresses"][0] if groups and groups[0]["addresses"] else None
            sender = (first or {}).get("address") or ""
    text = ""
    if data["text_body"]:
        body = data["parts"][data["text_body"][0]]["body"]
        text = body.get("Text", "") if isinstance(body, dict) else ""
    return subject, sender, len(data["attachments"]), text


def fidelity(run: Extract) -> dict[str, float]:
    pairs = sorted(CORPUS.glob("stalwart-mail-parser/eml/*/*.json"))
    scores = {"subject": 0, "from": 0, "attachments": 0, "text": 0}
    for js in pairs:
        want = expected(js)
        try:
            got = run(js.with_suffix(".eml").read_bytes())
        except Exception:
            continue
        assert want is not None
        scores["subject"] += _norm(got[0]) == _norm(want[0])
        scores["from"] += got[1].lower() == want[1].lower()
        scores["attachments"] += got[2] == want[2]
        scores["text"] += _norm(got[3])[:60] == _norm(want[3])[:60]
    return {k: round(100 * v / len(pairs), 1) for k, v in scores.items()}


def corpus_messages() -> list[bytes]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as f:
        return [
            (CORPUS / r["path"]).read_bytes()
            for r in csv.DictReader(f, delimiter="\t")
            if r["kind"] == "message"
        ]


def _failures(run: Extract, messages: list[bytes]) -> int:
    failures = 0
    for raw in messages:
        try:
            run(raw)
        except Exception:
            failures += 1
    return failures


def measure(name: str, run: Extract, generated: list[bytes], real: list[bytes]) -> dict[str, Any]:
    start = time.perf_counter()
    _failures(run, generated)
    rate = len(generated) / (time.perf_counter() - start)
    return {
        "bench": "parse",
        "candidate": name,
        "msgs_per_s": round(rate),
        "corpus_messages": len(real),
        "corpus_exceptions": _failures(run, real),
        "fidelity_pct_vs_stalwart": fidelity(run),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    maildir = write_corpus(args.workdir.resolve() / f"maildir-{args.count}", args.count)
    generated = [p.read_bytes() for p in sorted((maildir / "cur").iterdir())]
    real = corpus_messages()
    for name, run in CANDIDATES.items():
        print(json.dumps(measure(name, run, generated, real)), flush=True)


if __name__ == "__main__":
    main()
