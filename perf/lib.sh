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
