#!/bin/sh
# First start of the PostgreSQL container (docker-entrypoint-initdb.d): the role
# and database inboxhub connects with.
#
# The role is ordinary (no SUPERUSER, no BYPASSRLS) and owns the schema it
# migrates: migration 0002 FORCEs row-level security on the tenant tables, which
# binds the owner too, while a superuser would bypass it. POSTGRES_USER (the
# image's superuser) stays for administration only.
set -eu
: "${INBOXHUB_DB_PASSWORD:?INBOXHUB_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v pw="$INBOXHUB_DB_PASSWORD" <<'SQL'
CREATE ROLE inboxhub LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'pw';
CREATE DATABASE inboxhub OWNER inboxhub;
REVOKE ALL ON DATABASE inboxhub FROM PUBLIC;
SQL
