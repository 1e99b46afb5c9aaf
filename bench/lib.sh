# Shared by bench/proxy-bench, bench/algorithm-bench and scripts/bench: waiting for a server to
# listen, reading the port sluice picked, and reading a process's CPU time from /proc.
# Messages are prefixed with $BENCH_NAME (the sourcing script's name by default).
# shellcheck shell=bash

BENCH_NAME="${BENCH_NAME:-$(basename "$0")}"

# bench_wait_for_port NAME PID PORT LOG: waits up to 10 s until 127.0.0.1:PORT accepts a
# connection. Exits the script when it does not, or when PID died first, with what LOG holds.
bench_wait_for_port() {
    local name="$1" pid="$2" port="$3" log="$4" _
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "$BENCH_NAME: $name did not start on port $port" >&2
    cat "$log" >&2
    exit 1
}

# bench_listen_port NAME PID LOG: prints the port of sluice's "listening on 127.0.0.1:PORT"
# line once it is in LOG (sluice started with --listen 127.0.0.1:0). Exits the script when the
# line does not come within 10 s or PID died first.
bench_listen_port() {
    local name="$1" pid="$2" log="$3" port="" _
    for _ in $(seq 200); do
        port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")"
        if [[ -n "$port" ]]; then
            echo "$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "$BENCH_NAME: $name did not start" >&2
    cat "$log" >&2
    exit 1
}

# bench_cpu_ticks PID...: the clock ticks (getconf CLK_TCK a second) of CPU, user plus system,
# these processes have used so far, all their threads included. A process that is gone counts 0.
# The fields are read after the ")" that ends the command name, which may contain spaces.
bench_cpu_ticks() {
    local pid stat total=0
    local -a fields
    for pid in "$@"; do
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
        stat="${stat##*) }"
        # After the name: state is field 3, utime 14 and stime 15 of the whole line.
        read -r -a fields <<<"$stat"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# bench_children PID: the process ids of PID's children (nginx's workers under its master).
bench_children() {
    cat "/proc/$1/task/"*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
}

# bench_rss_kib PID: the resident set (VmRSS) of PID in KiB.
bench_rss_kib() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
