#!/bin/sh
# The image's entrypoint, with the official Airflow image's convention: arguments are an
# `airflow` subcommand (`scheduler`, `celery worker`, `api-server --port 8080`), unless
# they start with a program to run as it is (`bash -c ...`, `python ...`, `airflow ...`,
# `candleflow ...`, or an absolute path), which is what the Helm chart and
# docker-compose.yaml's airflow-init pass. `exec` keeps the program as the process that
# receives the container's signals (Compose's `init: true` puts tini in front of it, so
# zombies of killed task processes are reaped).
set -eu

if [ "$#" -eq 0 ]; then
    set -- version
fi

case "$1" in
    bash | sh | python | python3 | airflow | candleflow | /*)
        exec "$@"
        ;;
    *)
        exec airflow "$@"
        ;;
esac
