#!/bin/bash
# PostgreSQL's entrypoint (the official image's, or docker/postgres/docker-entrypoint.sh)
# runs this once, on an empty data volume: two roles, two databases, each owned by its role.
# `candleflow` may create roles: the warehouse migrations create the read-only
# `candleflow_reader`. The passwords come from the postgres service's environment and reach
# SQL as psql variables (quoted by psql), never spliced into the statement text.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v airflow_pw="${AIRFLOW_DB_PASSWORD:?}" -v candleflow_pw="${CANDLEFLOW_DB_PASSWORD:?}" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE ROLE candleflow LOGIN CREATEROLE PASSWORD :'candleflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE candleflow OWNER candleflow;
SQL
