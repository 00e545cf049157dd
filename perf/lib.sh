# Shared by the perf/ scripts (sourced, after `cd` to the repository root).

# Waits up to 30 s for something to accept TCP connections on 127.0.0.1:PORT; fails after.
wait_for_port() {
    local port=$1
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# Starts BINARY as a one-shard broker pinned to CPU $broker_cpu, clients on 127.0.0.1:$port,
# data in $out/data, its log appended to $out/NAME.log; sets $broker to its pid. Extra
# arguments go to `weir serve` (`--override key=value`).
start_weir() { # binary, log name, extra serve arguments...
    local binary=$1 name=$2
    shift 2
    taskset -c "$broker_cpu" "$binary" serve --smp 1 --override "listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "log.dirs=$out/data" --override "admin.listener=" "$@" >>"$out/$name.log" 2>&1 &
    broker=$!
    wait_for_port "$port" && return 0
    echo "the broker did not start; see $out/$name.log" >&2
    exit 1
}

# Starts a fresh broker of build $build with a PLAINTEXT listener on $port and an SSL one on
# $ssl_port, its key store $pki/broker-keystore.pem (the TLS scripts).
start_tls_weir() {
    rm -rf "$out/data"
    start_weir "$(binary_of "$build")" "$build" \
        --override "listeners=PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$ssl_port" \
        --override "ssl.keystore.location=$pki/broker-keystore.pem"
}

# Stops the broker start_weir started (SIGTERM, then waits for it).
stop_weir() {
    [ -n "${broker:-}" ] || return 0
    kill -TERM "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
}

# Drops the page cache (when allowed: root), so that nothing of the data files is in memory.
drop_page_cache() {
    sync
    [ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches
    return 0
}

# librdkafka's defaults of the fetch keys `weir perf consume` raises (it asks for 8 MiB per
# partition), as `--client-property` arguments: the issue's goals are for default clients.
librdkafka_fetch_defaults="--client-property max.partition.fetch.bytes=1048576 --client-property fetch.max.bytes=52428800 --client-property queued.max.messages.kbytes=65536"

# What every before/after script (consume.sh, produce.sh, catch-up.sh) does first: takes its
# arguments, [repeats, default 3] [another weir binary to compare], as $repeats and $other, and
# BROKER_CPU / CLIENT_CPU (0 / 1) as $broker_cpu / $client_cpu; builds the release binary as
# $current; empties OUT as $out; lists the builds to alternate in $builds ("current", and
# "other" with a second binary); stops the broker on exit.
prepare_comparison() { # out directory, the script's arguments...
    out=$1
    repeats="${2:-3}"
    other="${3:-}"
    broker_cpu="${BROKER_CPU:-0}"
    client_cpu="${CLIENT_CPU:-1}"
    cargo build --release --quiet
    current=target/release/weir
    rm -rf "$out"
    mkdir -p "$out"
    builds=(current)
    if [ -n "$other" ]; then builds+=(other); fi
    trap stop_weir EXIT
}

# The binary of a build named in $builds.
binary_of() {
    if [ "$1" = other ]; then echo "$other"; else echo "$current"; fi
}

# Installs each named Debian package whose command is missing (as root; otherwise it says what
# to install). Returns 1 when one is still missing.
install_missing() { # tool...
    local tool missing=0
    for tool in "$@"; do
        command -v "$tool" >/dev/null && continue
        if [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y "$tool" >/dev/null
        fi
        if ! command -v "$tool" >/dev/null; then
            echo "$tool is needed: apt-get install -y $tool" >&2
            missing=1
        fi
    done
    return "$missing"
}

# Saves the broker's own produce latency per topic (`weir_partition_produce_latency_seconds`
# from the admin listener's /metrics) for perf/broker_latency.py.
save_produce_latency() { # admin port, file
    curl -s "http://127.0.0.1:$1/metrics" | grep '^weir_partition_produce_latency_seconds{' \
        >"$2" || true
}
