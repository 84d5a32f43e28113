"""A reproducible corpus of realistic messages, written as a Maildir.

Mixed sizes (a few hundred bytes to ~100 KB bodies), threads (replies carry
In-Reply-To/References), text + HTML alternatives, 15 % with attachments, subjects
and bodies in several charsets (UTF-8, ISO-8859-1, Windows-1252, ISO-2022-JP,
KOI8-R) with RFC 2047 encoded words.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

GENERATOR_VERSION = 2  # bump when the messages change, so cached corpora are rebuilt
WORDS = [
    "invoice",
    "meeting",
    "project",
    "deadline",
    "budget",
    "review",
    "quarterly",
    "report",
    "contract",
    "customer",
    "delivery",
    "schedule",
    "update",
    "release",
    "planning",
    "design",
    "feedback",
    "proposal",
    "revenue",
    "forecast",
    "hiring",
    "onboarding",
    "travel",
    "expense",
    "approval",
    "security",
    "audit",
    "migration",
    "database",
    "server",
    "outage",
    "incident",
    "postmortem",
    "roadmap",
    "launch",
    "marketing",
    "campaign",
    "newsletter",
    "webinar",
    "partner",
    "agreement",
    "renewal",
    "pricing",
    "discount",
    "support",
    "ticket",
    "escalation",
    "backlog",
    "sprint",
]
ACCENTED = [
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "São",
    "Paulo",
    "Ærø",
    "Kraków",
    "Málaga",
    "Genève",
    "smörgåsbord",
]
CHARSETS = [
    ("utf-8", 0.6),
    ("iso-8859-1", 0.15),
    ("windows-1252", 0.1),
    ("iso-2022-jp", 0.08),
    ("koi8-r", 0.07),
]
LOCAL_TEXT = {
    "iso-2022-jp": "会議の資料を送ります。よろしくお願いします。",
    "koi8-r": "Привет, отправляю отчёт за квартал.",
}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


PEOPLE = [
    (f"{first} {last}", f"{first.lower()}.{_ascii(last).lower()}@{dom}")
    for first in ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi")
    for last in ("Smith", "Müller", "García", "Rossi", "Nowak")
    for dom in ("example.com", "corp.test")
]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 16))
    if rng.random() < 0.2:
        words.append(rng.choice(ACCENTED))
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, charset: str) -> str:
    size = rng.choice([2, 5, 10, 20, 40, 80, 200])  # sentences: mixed sizes around ~12 KB mean
    paragraphs = [
        "\n".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        for _ in range(max(1, size // 3))
    ]
    text = "\n\n".join(paragraphs)
    return (LOCAL_TEXT[charset] + "\n\n" + text) if charset in LOCAL_TEXT else text


def _encodable(text: str, charset: str) -> str:
    return text.encode(charset, "replace").decode(charset)


def message(rng: random.Random, i: int, when: datetime, thread_parent: str | None) -> bytes:
    charset = rng.choices([c for c, _ in CHARSETS], [w for _, w in CHARSETS])[0]
    sender, recipient = rng.sample(PEOPLE, 2)
    msg = EmailMessage()
    subject = _encodable(" ".join(rng.choices(WORDS + ACCENTED, k=rng.randint(3, 8))), charset)
    msg["Subject"] = ("Re: " if thread_parent else "") + subject
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = f"{recipient[0]} <{recipient[1]}>"
    if rng.random() < 0.3:
        msg["Cc"] = ", ".join(f"{n} <{a}>" for n, a in rng.sample(PEOPLE, rng.randint(1, 4)))
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<bench.{i}@example.com>"
    if thread_parent:
        msg["In-Reply-To"] = thread_parent
        msg["References"] = thread_parent
    text = _encodable(_body(rng, charset), charset)
    msg.set_content(text, charset=charset)
    if rng.random() < 0.7:
        html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html", charset=charset)
    if rng.random() < 0.15:
        data = rng.randbytes(rng.choice([2_000, 20_000, 80_000]))
        kind = rng.choice(
            [("application", "pdf", "pdf"), ("image", "png", "png"), ("application", "zip", "zip")]
        )
        msg.add_attachment(
            data, maintype=kind[0], subtype=kind[1], filename=f"{rng.choice(WORDS)}-{i}.{kind[2]}"
        )
    return msg.as_bytes()


def write_corpus(root: Path, count: int, seed: int = 42) -> Path:
    """A Maildir at ``root`` with ``count`` messages; reused if already complete."""
    done = root / ".complete"
    stamp = f"{count}:{seed}:{GENERATOR_VERSION}"
    if done.exists() and done.read_text() == stamp:
        return root
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    recent: list[str] = []
    for i in range(count):
        parent = rng.choice(recent) if recent and rng.random() < 0.35 else None
        data = message(rng, i, start + timedelta(minutes=17 * i), parent)
        (root / "cur" / f"{1600000000 + i}.M{i}.bench:2,S").write_bytes(data)
        recent = ([*recent, f"<bench.{i}@example.com>"])[-50:]
    done.write_text(stamp)
    return root
