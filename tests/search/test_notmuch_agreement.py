"""Issue 5, "Proven": our search agrees with notmuch's on the same Maildir, for the
operators that mean the same in both (from:, to:, subject:, date ranges, free
words, phrases, negation, OR).

The messages are ``bench/corpus.py``'s (the search benchmark's corpus, smaller):
several charsets, text and HTML, replies, Cc, attachments. They go through our whole
embedded pipeline (import → processor → indexer), and through ``notmuch new`` with a
config of its own; results are compared by Message-ID. The queries keep to ASCII
words of one form each (notmuch stems English and does not fold accents; we do the
opposite), and notmuch runs in UTC so that its days are ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.corpus import write_corpus
from inboxhub.domain.query_parser import parse_query
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container
from tests.integration.conftest import TENANT, settle
from tests.integration.conftest import container as container  # the fixture

MESSAGES = 400  # 2023-01-01 00:00 UTC on, one every 17 minutes (about 4.7 days)
BOX = "maildir"

# (ours, notmuch's): the same question in each language.
QUERIES = [
    ("budget", "budget"),
    ("budget review", "budget AND review"),
    ('"budget review"', '"budget review"'),
    ("budget OR invoice", "budget OR invoice"),
    ("budget -invoice", "budget AND NOT invoice"),
    ("-budget", "NOT budget"),
    ("{outage incident postmortem}", "outage OR incident OR postmortem"),
    ("subject:budget", "subject:budget"),
    ('subject:"quarterly report"', 'subject:"quarterly report"'),
    ("subject:re", "subject:re"),
    ("-subject:re from:dave", "NOT subject:re AND from:dave"),
    ("from:alice", "from:alice"),
    ("from:nowak", "from:nowak"),
    ("from:alice.smith@example.com", "from:alice.smith@example.com"),
    ("from:corp.test", "from:corp.test"),
    ("to:bob", "to:bob"),
    ("to:carol.garcia@corp.test", "to:carol.garcia@corp.test"),
    ("from:grace -to:heidi", "from:grace AND NOT to:heidi"),
    ("(from:alice OR from:bob) subject:review", "(from:alice OR from:bob) AND subject:review"),
    ('"security audit"', '"security audit"'),
    ("security audit -deadline", "security AND audit AND NOT deadline"),
    ("after:2023/01/02 before:2023/01/03", "date:2023-01-02..2023-01-02"),
    ("before:2023/01/02", "date:..2023-01-01"),
    ("after:2023/01/04", "date:2023-01-04.."),
    ("budget after:2023/01/03", "budget AND date:2023-01-03.."),
    ("sprint OR backlog before:2023/01/03", "(sprint OR backlog) AND date:..2023-01-02"),
]

pytestmark = pytest.mark.skipif(
    shutil.which("notmuch") is None,
    reason="notmuch is not installed (Debian package notmuch; `make test` installs it)",
)


def notmuch_ids(maildir: Path, work: Path) -> dict[str, set[str]]:
    """Index ``maildir`` with ``notmuch new`` and run every query of ``QUERIES``:
    the Message-IDs each finds."""
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n"
        "[user]\nname=Test\nprimary_email=test@example.com\n"
        "[new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config), "TZ": "UTC", "HOME": str(work)}

    def notmuch(*args: str) -> str:
        done = subprocess.run(
            ["notmuch", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    notmuch("new", "--quiet")
    found = {}
    for _, theirs in QUERIES:
        lines = notmuch("search", "--output=messages", theirs).split()
        found[theirs] = {line.removeprefix("id:") for line in lines}
    return found


async def our_ids(c: Container, q: str) -> set[str]:
    page = await c.search.search(TENANT, parse_query(q), [BOX], MESSAGES + 1, order="date")
    assert page.total == len(page.hits)
    docs = await c.emails.get_many(TENANT, [h.id for h in page.hits])
    return {d.message_id for d in docs if d.message_id}


async def test_our_results_agree_with_notmuch(container: Container, tmp_path: Path) -> None:
    maildir = write_corpus(tmp_path / "maildir", MESSAGES, seed=5)
    result = await container.ingest().run(TENANT, BOX, iter_local(maildir))
    await settle(container)
    assert result.published == MESSAGES
    theirs = notmuch_ids(shutil.copytree(maildir, tmp_path / "notmuch-maildir"), tmp_path)
    everything = await our_ids(container, "")
    assert len(everything) == MESSAGES
    disagreements = {}
    for ours_q, theirs_q in QUERIES:
        ours = await our_ids(container, ours_q)
        if ours != theirs[theirs_q]:
            disagreements[ours_q] = {
                "only ours": sorted(ours - theirs[theirs_q])[:5],
                "only notmuch": sorted(theirs[theirs_q] - ours)[:5],
            }
        # a query that finds nothing or everything would agree without proving much
        assert 0 < len(ours) < MESSAGES, ours_q
    assert not disagreements
