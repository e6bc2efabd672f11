#!/usr/bin/env bash
# The proxy's overhead: redis-benchmark (GET and SET) directly against Redis, through the cachescope proxy with
# full observation on (by default: clients share an upstream connection; with --dedicated-upstream; with
# --threads 2), and through twemproxy (nutcracker, `redis: true`), in one run, with -P 16 and without, and with one
# client alone for the latency a proxy adds; and against a Redis with a password, whose clients open with AUTH
# (`redis-benchmark -a`: the proxy's clients share a connection set up with it; twemproxy answers AUTH itself,
# `redis_auth`). Rounds are interleaved, RUNS times (default 5); figures are medians.
# Each proxy's CPU time (user + system, from /proc) is counted per command. The tables replace the block between
# the `proxy` markers in BENCHMARKS.md.
#
#   bash bench/proxy.sh          RUNS=7 REQUESTS=500000 bash bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
redis_benchmark_setup

command -v nutcracker >/dev/null || { echo "twemproxy is missing: apt-get install nutcracker" >&2; exit 1; }
cargo build --release --quiet --bin cachescope

start_redis "$WORK"
PASSWORD=bench-password
REDIS_AUTH=$(free_port)
redis-server --port "$REDIS_AUTH" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --requirepass "$PASSWORD" >/dev/null &
wait_port "$REDIS_AUTH"

CACHESCOPE=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$CACHESCOPE" --upstream "redis://127.0.0.1:$REDIS" \
    --report-every 1h -o json >"$WORK/cachescope.json" 2>"$WORK/cachescope.log" &
CACHESCOPE_PID=$!
wait_port "$CACHESCOPE"

DEDICATED=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$DEDICATED" --upstream "redis://127.0.0.1:$REDIS" --dedicated-upstream \
    --report-every 1h -o json >/dev/null 2>"$WORK/dedicated.log" &
DEDICATED_PID=$!
wait_port "$DEDICATED"

THREADED=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$THREADED" --upstream "redis://127.0.0.1:$REDIS" --threads 2 \
    --report-every 1h -o json >/dev/null 2>"$WORK/threaded.log" &
THREADED_PID=$!
wait_port "$THREADED"

SHARED_AUTH=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$SHARED_AUTH" --upstream "redis://:$PASSWORD@127.0.0.1:$REDIS_AUTH" \
    --report-every 1h -o json >/dev/null 2>"$WORK/shared-auth.log" &
SHARED_AUTH_PID=$!
wait_port "$SHARED_AUTH"

DEDICATED_AUTH=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$DEDICATED_AUTH" --upstream "redis://:$PASSWORD@127.0.0.1:$REDIS_AUTH" \
    --dedicated-upstream --report-every 1h -o json >/dev/null 2>"$WORK/dedicated-auth.log" &
DEDICATED_AUTH_PID=$!
wait_port "$DEDICATED_AUTH"

TWEMPROXY=$(free_port)
TWEMPROXY_AUTH=$(free_port)
cat >"$WORK/nutcracker.yml" <<YAML
bench:
  listen: 127.0.0.1:$TWEMPROXY
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  timeout: 4000
  servers:
   - 127.0.0.1:$REDIS:1
auth:
  listen: 127.0.0.1:$TWEMPROXY_AUTH
  redis: true
  redis_auth: $PASSWORD
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  timeout: 4000
  servers:
   - 127.0.0.1:$REDIS_AUTH:1
YAML
nutcracker -c "$WORK/nutcracker.yml" -s "$(free_port)" -o "$WORK/nutcracker.log" &
TWEMPROXY_PID=$!
wait_port "$TWEMPROXY"
wait_port "$TWEMPROXY_AUTH"

# CPU time of a process so far, in clock ticks.
cpu_ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }

TARGETS=("direct:$REDIS:" "cachescope:$CACHESCOPE:$CACHESCOPE_PID" "dedicated:$DEDICATED:$DEDICATED_PID"
    "threaded:$THREADED:$THREADED_PID" "twemproxy:$TWEMPROXY:$TWEMPROXY_PID")
AUTH_TARGETS=("direct:$REDIS_AUTH:" "cachescope:$SHARED_AUTH:$SHARED_AUTH_PID"
    "dedicated:$DEDICATED_AUTH:$DEDICATED_AUTH_PID" "twemproxy:$TWEMPROXY_AUTH:$TWEMPROXY_PID")
# Lines of: target, round (-P 1, -P 16, or "alone"), command, requests/s, p50 and p99 latency in ms; and the
# proxy's CPU ticks over the round.
RESULTS="$WORK/results.tsv"
for run in $(seq "$RUNS"); do
    for round in 1 16 alone auth; do
        targets=("${TARGETS[@]}")
        [ "$round" = auth ] && targets=("${AUTH_TARGETS[@]}")
        for target in "${targets[@]}"; do
            IFS=: read -r name port pid <<<"$target"
            before=$(cpu_ticks "$pid")
            case "$round" in
                alone) options=(-n $((REQUESTS / 10)) -c 1 -P 1) ;;
                auth) options=(-n "$REQUESTS" -c "$CLIENTS" -P 1 -a "$PASSWORD") ;;
                *) options=(-n "$REQUESTS" -c "$CLIENTS" -P "$round") ;;
            esac
            redis-benchmark -p "$port" -t get,set "${options[@]}" -r 100000 --csv 2>/dev/null | tr -d '"' \
                | awk -F, -v n="$name" -v r="$round" '$1=="SET"||$1=="GET" {print n "\t" r "\t" $1 "\t" $2 "\t" $5 "\t" $7}' >>"$RESULTS"
            printf '%s\t%s\tCPU\t%s\n' "$name" "$round" "$(( $(cpu_ticks "$pid") - before ))" >>"$RESULTS"
            echo "run $run/$RUNS · $round · $name" >&2
        done
    done
done
kill -INT "$CACHESCOPE_PID" "$DEDICATED_PID" "$THREADED_PID" "$SHARED_AUTH_PID" "$DEDICATED_AUTH_PID"
wait "$CACHESCOPE_PID" || true
observed=$(python3 -c "import json; r=json.load(open('$WORK/cachescope.json')); print(r['window']['events'])")

python3 - "$RESULTS" "$RUNS" "$REQUESTS" "$CLIENTS" "$observed" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys, subprocess, datetime, platform, re
results, runs, requests, clients, observed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ticks_per_second = int(sys.argv[6])
rps, latency, cpu_ticks = {}, {}, {}
for line in open(results):
    fields = line.rstrip("\n").split("\t")
    target, round_, test = fields[0], fields[1], fields[2]
    if test == "CPU":
        cpu_ticks.setdefault(round_, {}).setdefault(target, []).append(int(fields[3]))
    else:
        rps.setdefault((round_, test), {}).setdefault(target, []).append(float(fields[3]))
        for name, value in (("p50", fields[4]), ("p99", fields[5])):
            latency.setdefault((round_, test, name), {}).setdefault(target, []).append(float(value))
median = lambda table: {t: statistics.median(v) for t, v in table.items()}
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2].removeprefix("v=")
twemproxy = subprocess.run(["nutcracker", "-V"], capture_output=True, text=True)
twemproxy = re.search(r"nutcracker-([\d.]+)", twemproxy.stdout + twemproxy.stderr)
twemproxy = twemproxy.group(1) if twemproxy else "(version unknown)"
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores "
    f"shared by Redis, the proxies and redis-benchmark (Linux {platform.release()}, Redis {version}, nutcracker {twemproxy}): "
    f"`redis-benchmark -t get,set -n {requests} -c {clients} -r 100000`, medians of {runs} interleaved runs. "
    f"The cachescope proxy analysed every command ({observed:,} events). *cachescope* shares an upstream connection "
    "among clients of stateless commands (the default); *dedicated* gives each client its own "
    "(`--dedicated-upstream`); *2 threads* is the default on two relaying threads (`--threads 2`).",
    "",
    "| pipeline | command | direct | cachescope | dedicated | 2 threads | twemproxy | cachescope / direct | cachescope / twemproxy |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
for round_ in ("1", "16"):
    for test in ("GET", "SET"):
        m = median(rps[(round_, test)])
        lines.append(
            f"| -P {round_} | {test} | {m['direct']:,.0f}/s | {m['cachescope']:,.0f}/s | {m['dedicated']:,.0f}/s "
            f"| {m['threaded']:,.0f}/s | {m['twemproxy']:,.0f}/s | {m['cachescope']/m['direct']:.2f} "
            f"| {m['cachescope']/m['twemproxy']:.2f} |"
        )
lines += ["", "Clients that open with AUTH (`redis-benchmark -a`, -P 1), against a Redis with a password: the proxy's "
          "share a connection it set up with their AUTH; twemproxy answers AUTH itself (`redis_auth`):", "",
          "| command | direct | cachescope | dedicated | twemproxy | cachescope / dedicated | cachescope / twemproxy |",
          "|---|---:|---:|---:|---:|---:|---:|"]
for test in ("GET", "SET"):
    m = median(rps[("auth", test)])
    lines.append(f"| {test} | {m['direct']:,.0f}/s | {m['cachescope']:,.0f}/s | {m['dedicated']:,.0f}/s "
                 f"| {m['twemproxy']:,.0f}/s | {m['cachescope']/m['dedicated']:.2f} | {m['cachescope']/m['twemproxy']:.2f} |")
commands = {"1": 2 * int(requests), "16": 2 * int(requests), "alone": 2 * (int(requests) // 10), "auth": 2 * int(requests)}
lines += ["", "CPU time of each proxy per command (user + system, GET and SET together, medians):", "",
          "| pipeline | cachescope | dedicated | 2 threads | twemproxy | cachescope / twemproxy |",
          "|---|---:|---:|---:|---:|---:|"]
for round_ in ("1", "16", "auth"):
    us = {t: statistics.median(v) / ticks_per_second / commands[round_] * 1e6 for t, v in cpu_ticks[round_].items()}
    threaded = f"{us['threaded']:.1f} µs" if "threaded" in us else "-"
    label = "-P 1, clients that open with AUTH" if round_ == "auth" else f"-P {round_}"
    lines.append(f"| {label} | {us['cachescope']:.1f} µs | {us['dedicated']:.1f} µs | {threaded} "
                 f"| {us['twemproxy']:.1f} µs | {us['cachescope']/us['twemproxy']:.2f} |")
lines += ["", "Latency a proxy adds to Redis's, in µs (p50 and p99 of the proxy less those of Redis directly, medians); "
          f"*alone* is one client without pipelining (`-c 1 -n {int(requests) // 10}`), the others the rounds above:", "",
          "| round | command | p50 cachescope | p50 twemproxy | p99 cachescope | p99 twemproxy |",
          "|---|---|---:|---:|---:|---:|"]
for round_ in ("alone", "1", "16"):
    for test in ("GET", "SET"):
        added = {}
        for name in ("p50", "p99"):
            m = median(latency[(round_, test, name)])
            added[name] = {t: (m[t] - m["direct"]) * 1000 for t in m}
        label = "alone" if round_ == "alone" else f"-P {round_}"
        lines.append(f"| {label} | {test} | {added['p50']['cachescope']:,.0f} | {added['p50']['twemproxy']:,.0f} "
                     f"| {added['p99']['cachescope']:,.0f} | {added['p99']['twemproxy']:,.0f} |")
block = "\n".join(lines)
text = open("BENCHMARKS.md").read()
text = re.sub(r"<!-- proxy:begin -->.*<!-- proxy:end -->", "<!-- proxy:begin -->\n" + block + "\n<!-- proxy:end -->", text, flags=re.S)
open("BENCHMARKS.md", "w").write(text)
print(block)
PY
