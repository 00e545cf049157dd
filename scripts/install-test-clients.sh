#!/usr/bin/env bash
# Installs what the integration tests need beyond cargo: the Kafka clients other than
# librdkafka (which the `rdkafka` dev-dependency builds), Debian's kcat (librdkafka 2.0) and
# kafka-python, pinned in tests/python/requirements.txt, into a virtualenv under target/;
# nftables for the fault tests; and OpenSSL's headers for the build of the tools' librdkafka.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# kcat (a client), and for the fault tests (tests/faults.rs) nftables and iproute2: links
# between nodes are cut with nft rules inside a private network namespace.
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# The TLS tests (tests/tls.rs) make their certificate authority with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The build: the tools' librdkafka links OpenSSL (rdkafka's "ssl" feature), found by pkg-config.
# (Debian's Rust images carry both; a machine without them gets them here.)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)" >&2
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv=target/test-python
stamp="$venv/.requirements"
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
    echo "installing kafka-python into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$stamp"
fi
