# What the bench scripts share; source it: `. "$(dirname "$0")/lib/common.sh"`.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits (5 s at most) until a Redis-speaking server answers PING on port $1.
wait_port() {
    for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "nothing on $1" >&2
    exit 1
}

# Starts a throwaway redis-server on a free port (no persistence, files in $1) and sets REDIS to its port.
start_redis() {
    REDIS=$(free_port)
    redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no --dir "$1" >/dev/null &
    wait_port "$REDIS"
}

# Replaces the block between `<!-- $1:begin -->` and `<!-- $1:end -->` in BENCHMARKS.md with stdin (a section
# titled $2 is added at the end when there is no such block yet), and prints it.
write_block() { python3 "$(dirname "${BASH_SOURCE[0]}")/write_block.py" "$1" "$2"; }

# What the redis-benchmark scripts share: RUNS, REQUESTS and CLIENTS (defaults 5, 300,000 and 50, overridden from
# the environment), a work folder in WORK removed on exit with every background job stopped, and redis-benchmark.
redis_benchmark_setup() {
    RUNS=${RUNS:-5}
    REQUESTS=${REQUESTS:-300000}
    CLIENTS=${CLIENTS:-50}
    WORK=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
    command -v redis-benchmark >/dev/null || {
        echo "redis-benchmark is missing: apt-get install redis-tools" >&2
        exit 1
    }
}
