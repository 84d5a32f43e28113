#!/usr/bin/env bash
# The peers the benchmarks run side by side (Debian packages). Idempotent.
set -euo pipefail
if ! command -v notmuch >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq notmuch >/dev/null
  else echo "notmuch missing and not root: the benchmark will skip the peer" >&2; fi
fi
