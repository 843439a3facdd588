#!/bin/bash
# The official postgres image's start-up contract, for Debian's PostgreSQL packages:
#
# - `postgres [args]` (or only `-c ...` args) starts the server; anything else runs as is;
# - as root, it fixes the owner of PGDATA and runs itself again as the `postgres` user;
# - on an empty PGDATA: initdb (superuser POSTGRES_USER with POSTGRES_PASSWORD; socket
#   connections trusted, TCP ones by scram-sha-256 password), then a server on the Unix socket
#   only runs the /docker-entrypoint-initdb.d/ scripts (*.sh executed or sourced, *.sql with
#   psql) and stops; a data directory that is not empty is never touched again, so the init
#   scripts run exactly once per volume, as with the official image.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi
if [ "$1" != 'postgres' ]; then
    exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
if [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required to initialise the database}"
    POSTGRES_USER="${POSTGRES_USER:-postgres}"
    POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p ${PGPORT:-5432}" start >/dev/null
    export PGUSER="$POSTGRES_USER" PGPORT="${PGPORT:-5432}"
    if [ "$POSTGRES_DB" != 'postgres' ]; then
        psql -v ON_ERROR_STOP=1 --dbname postgres -qc "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "initdb: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) echo "initdb: running $f"; psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -f "$f" ;;
            *) [ -e "$f" ] && echo "initdb: ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "initdb: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
