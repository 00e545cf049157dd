#!/usr/bin/env bash
# Installs the Kafka clients the integration tests drive, other than librdkafka (which the
# `rdkafka` dev-dependency builds): Debian's kcat (librdkafka 2.0) and kafka-python, pinned in
# tests/python/requirements.txt, into a virtualenv under target/. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kcat >/dev/null 2>&1; then
    echo "installing kcat (Debian package)" >&2
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq kcat >/dev/null
fi

venv=target/test-python
stamp="$venv/.requirements"
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
    echo "installing kafka-python into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$stamp"
fi
