# syntax=docker/dockerfile:1
#
# One image for every inboxhub process:
#   docker run IMAGE                        everything in one process, embedded adapters
#   docker run IMAGE serve api              one service of the distributed deployment
#   docker run IMAGE migrate                the relational schema, then exit
# Settings come from INBOXHUB_* environment variables (see deploy/README.md).
# Set the port with INBOXHUB_PORT rather than --port: the HEALTHCHECK reads it.

ARG PYTHON_VERSION=3.12
ARG NODE_VERSION=22

# ---------------------------------------------------------------------------
# web: the web inbox (web/, Preact + TypeScript) built by Vite into
# src/inboxhub/services/web/dist, which the package serves at /
# ---------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS web

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /build/web
# The locked packages first: this layer is rebuilt only when they change.
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --loglevel=error
COPY web/ ./
# vite.config.ts writes to ../src/inboxhub/services/web/dist
RUN npm run build \
 && test -f /build/src/inboxhub/services/web/dist/index.html

# ---------------------------------------------------------------------------
# builder: wheels for the package and every dependency, installed into a venv
# ---------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /build

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when
# the dependencies change, not on every source edit. Every one of them ships
# binary wheels for CPython 3.12 on manylinux x86_64, so no compiler is needed.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && pip wheel --wheel-dir /wheels -r requirements.txt

COPY README.md ./
COPY src/ ./src/
# The built web inbox goes into the wheel (pyproject: hatch artifacts).
COPY --from=web /build/src/inboxhub/services/web/dist/ ./src/inboxhub/services/web/dist/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-index --find-links /wheels inboxhub

# ---------------------------------------------------------------------------
# runtime: the venv on a slim Python, as an unprivileged user
# ---------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime

LABEL org.opencontainers.image.title="inboxhub" \
      org.opencontainers.image.description="Multi-tenant mail aggregation: every mailbox of a company, searchable through one API" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 inboxhub \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/inboxhub --shell /usr/sbin/nologin inboxhub \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/inboxhub

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INBOXHUB_DATA_DIR=/var/lib/inboxhub \
    INBOXHUB_HOST=0.0.0.0 \
    INBOXHUB_PORT=8080 \
    INBOXHUB_LOG_JSON=true

USER 10001:10001
WORKDIR /var/lib/inboxhub
# Embedded mode keeps all its data here; the distributed services keep nothing
# here once INBOXHUB_SECRET_KEY is set (without it, a key is generated into it).
VOLUME ["/var/lib/inboxhub"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('INBOXHUB_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["inboxhub"]
CMD ["run", "--host", "0.0.0.0"]
