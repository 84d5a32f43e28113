#!/usr/bin/env bash
# The peers the benchmarks run side by side (Debian packages). Idempotent.
set -euo pipefail
# notmuch (indexing peer), isync's mbsync (IMAP sync peer), Dovecot (the IMAP server),
# wrk (the HTTP load generator of bench/api.py).
for pair in notmuch:notmuch mbsync:isync dovecot:dovecot-imapd wrk:wrk; do
  cmd=${pair%%:*} pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null && [ ! -x "/usr/sbin/$cmd" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -qq "$pkg" >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null)
    else echo "$cmd missing and not root: the benchmarks will skip it" >&2; fi
  fi
done
