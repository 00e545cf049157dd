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

# The builds a before/after script alternates: "current", and "other" when $other names a
# second binary; binary_of BUILD prints the binary of one.
builds_to_compare() {
    builds=(current)
    if [ -n "${other:-}" ]; then builds+=(other); fi
}
binary_of() {
    if [ "$1" = other ]; then echo "$other"; else echo "$current"; fi
}
