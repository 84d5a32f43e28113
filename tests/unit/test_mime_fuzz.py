"""Mutated real-world messages never make the parser raise, on either engine.

CI runs a few hundred examples; ``make fuzz`` runs 100,000
(``INBOXHUB_FUZZ_EXAMPLES``). Hypothesis shrinks a failure to a small input and
prints it; pytest-timeout turns a hang into a failure.
"""

from __future__ import annotations

import os
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inboxhub.mime.parse import ParseLimits, parse_message
from tests.support.corpus import corpus_dir, message_paths

pytestmark = pytest.mark.skipif(
    not (corpus_dir() / "MANIFEST.tsv").exists(),
    reason=f"shared corpus not found at {corpus_dir()} (set INBOXHUB_CORPUS_DIR)",
)
EXAMPLES = int(os.environ.get("INBOXHUB_FUZZ_EXAMPLES", "300"))
FRAGMENTS = [
    b"\n",
    b"\r\n",
    b"\n\n",
    b"--",
    b"=?utf-8?b?",
    b"=?iso-8859-1?q?=E9",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=x\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"filename*=utf-8''%E2%82%AC%",
    b"\x00",
    b"\xff\xfe",
    b"\xe2\x82",
    b"From: <>\n",
    b"--x\n",
    b"--x--\n",
]


@cache
def corpus() -> list[bytes]:
    return [p.read_bytes()[:200_000] for p in message_paths()]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    messages = corpus()
    data = bytearray(messages[draw(st.integers(0, len(messages) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            data += draw(st.sampled_from(FRAGMENTS))
            continue
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = data[at : at + 200] * draw(st.integers(2, 50))
    return bytes(data)


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # no timing assertions; pytest-timeout catches hangs
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=mutated(), fast=st.booleans())
def test_mutated_messages_never_raise(raw: bytes, fast: bool) -> None:
    parsed = parse_message(raw, ParseLimits(fast_path=fast))
    assert all(isinstance(e, str) for e in parsed.parse_errors)
    assert "\x00" not in parsed.subject
