#!/usr/bin/env bash
# The proxy's overhead: redis-benchmark (GET and SET) directly against Redis, through the cachescope proxy with
# full observation on (its default single relaying thread, and --threads 2), and through twemproxy (nutcracker,
# `redis: true`), in one run, with -P 16 and without. Rounds are interleaved, RUNS times (default 5); figures are
# medians. Each proxy's CPU time (user + system, from /proc) is counted per command. The tables replace the block
# between the `proxy` markers in BENCHMARKS.md.
#
#   bash bench/proxy.sh          RUNS=7 REQUESTS=500000 bash bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
redis_benchmark_setup

command -v nutcracker >/dev/null || { echo "twemproxy is missing: apt-get install nutcracker" >&2; exit 1; }
cargo build --release --quiet --bin cachescope

start_redis "$WORK"

CACHESCOPE=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$CACHESCOPE" --upstream "redis://127.0.0.1:$REDIS" \
    --report-every 1h -o json >"$WORK/cachescope.json" 2>"$WORK/cachescope.log" &
CACHESCOPE_PID=$!
wait_port "$CACHESCOPE"

THREADED=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$THREADED" --upstream "redis://127.0.0.1:$REDIS" --threads 2 \
    --report-every 1h -o json >/dev/null 2>"$WORK/threaded.log" &
THREADED_PID=$!
wait_port "$THREADED"

TWEMPROXY=$(free_port)
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
YAML
nutcracker -c "$WORK/nutcracker.yml" -s "$(free_port)" -o "$WORK/nutcracker.log" &
TWEMPROXY_PID=$!
wait_port "$TWEMPROXY"

# CPU time of a process so far, in clock ticks.
cpu_ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }

RESULTS="$WORK/results.tsv"
for run in $(seq "$RUNS"); do
    for pipeline in 1 16; do
        for target in "direct:$REDIS:" "cachescope:$CACHESCOPE:$CACHESCOPE_PID" "threaded:$THREADED:$THREADED_PID" \
            "twemproxy:$TWEMPROXY:$TWEMPROXY_PID"; do
            IFS=: read -r name port pid <<<"$target"
            before=$(cpu_ticks "$pid")
            redis-benchmark -p "$port" -t get,set -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" -r 100000 --csv 2>/dev/null \
                | tr -d '"' | awk -F, -v n="$name" -v p="$pipeline" '$1=="SET"||$1=="GET" {print n "\t" p "\t" $1 "\t" $2}' >>"$RESULTS"
            printf '%s\t%s\tCPU\t%s\n' "$name" "$pipeline" "$(( $(cpu_ticks "$pid") - before ))" >>"$RESULTS"
            echo "run $run/$RUNS · -P $pipeline · $name" >&2
        done
    done
done
kill -INT "$CACHESCOPE_PID" "$THREADED_PID"; wait "$CACHESCOPE_PID" || true
observed=$(python3 -c "import json; r=json.load(open('$WORK/cachescope.json')); print(r['window']['events'])")

python3 - "$RESULTS" "$RUNS" "$REQUESTS" "$CLIENTS" "$observed" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys, subprocess, datetime, platform, re
results, runs, requests, clients, observed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ticks_per_second = int(sys.argv[6])
rps, cpu_ticks = {}, {}
for line in open(results):
    target, pipeline, test, value = line.split("\t")
    if test == "CPU":
        cpu_ticks.setdefault(int(pipeline), {}).setdefault(target, []).append(int(value))
    else:
        rps.setdefault((int(pipeline), test), {}).setdefault(target, []).append(float(value))
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2].removeprefix("v=")
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores "
    f"shared by Redis, the proxy and redis-benchmark (Linux {platform.release()}, Redis {version}, nutcracker 0.5.0): "
    f"`redis-benchmark -t get,set -n {requests} -c {clients} -r 100000`, medians of {runs} interleaved runs. "
    f"The cachescope proxy analysed every command ({observed:,} events).",
    "",
    "| pipeline | command | direct | cachescope proxy | cachescope, 2 threads | twemproxy | cachescope / direct | cachescope / twemproxy |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]
for (pipeline, test) in sorted(rps):
    m = {t: statistics.median(v) for t, v in rps[(pipeline, test)].items()}
    lines.append(
        f"| -P {pipeline} | {test} | {m['direct']:,.0f}/s | {m['cachescope']:,.0f}/s | {m['threaded']:,.0f}/s "
        f"| {m['twemproxy']:,.0f}/s | {m['cachescope']/m['direct']:.2f} | {m['cachescope']/m['twemproxy']:.2f} |"
    )
commands = 2 * int(requests)
lines += ["", "CPU time of each proxy per command (user + system, GET and SET together, medians):", "",
          "| pipeline | cachescope proxy | cachescope, 2 threads | twemproxy |", "|---|---:|---:|---:|"]
for pipeline in sorted(cpu_ticks):
    us = {t: statistics.median(v) / ticks_per_second / commands * 1e6 for t, v in cpu_ticks[pipeline].items()}
    lines.append(f"| -P {pipeline} | {us['cachescope']:.1f} µs | {us['threaded']:.1f} µs | {us['twemproxy']:.1f} µs |")
block = "\n".join(lines)
text = open("BENCHMARKS.md").read()
text = re.sub(r"<!-- proxy:begin -->.*<!-- proxy:end -->", "<!-- proxy:begin -->\n" + block + "\n<!-- proxy:end -->", text, flags=re.S)
open("BENCHMARKS.md", "w").write(text)
print(block)
PY
