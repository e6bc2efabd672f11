#!/usr/bin/env bash
# What the live layer's outlets cost the traffic: redis-benchmark (GET and SET) through the cachescope proxy alone,
# and through a second proxy serving --http to a Prometheus-like scraper every second, ten dashboards and five
# `top` (as their requests go), an event stream that is never read, and a --webhook whose receiver accepts and
# never answers (a FLUSHALL before each of its rounds opens an anomaly for it to post). Directly against Redis for reference. Rounds are
# interleaved, RUNS times (default 5); figures are medians. Both proxies' final reports say how many events they
# analysed and dropped. The table replaces the block between the `live-overhead` markers in BENCHMARKS.md.
#
#   bash bench/live.sh          RUNS=7 REQUESTS=500000 bash bench/live.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
redis_benchmark_setup

command -v curl >/dev/null || { echo "curl is missing: apt-get install curl" >&2; exit 1; }
cargo build --release --quiet --bin cachescope

start_redis "$WORK"

# A webhook receiver that accepts connections and never answers.
HOOK=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $HOOK)); s.listen(64); held = []
while True:
    c, _ = s.accept(); held.append(c)
" &

PLAIN=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$PLAIN" --upstream "redis://127.0.0.1:$REDIS" \
    --report-every 1h -o json >"$WORK/plain.json" 2>"$WORK/plain.log" &
PLAIN_PID=$!
wait_port "$PLAIN"

LIVE=$(free_port)
HTTP=$(free_port)
./target/release/cachescope proxy --listen "127.0.0.1:$LIVE" --upstream "redis://127.0.0.1:$REDIS" \
    --http "127.0.0.1:$HTTP" --webhook "http://127.0.0.1:$HOOK/hook" --window 1s \
    --report-every 1h -o json >"$WORK/live.json" 2>"$WORK/live.log" &
LIVE_PID=$!
wait_port "$LIVE"

# A scraper every second; ten dashboards in browsers (each an event stream, the overview every second, the report
# every 10 s); five `cachescope top` (the overview every second, the report every 5 s); an event stream never read.
( while sleep 1; do curl -s "http://127.0.0.1:$HTTP/metrics" >/dev/null || true; done ) &
for _ in $(seq 10); do
    curl -sN "http://127.0.0.1:$HTTP/api/events" >/dev/null &
    ( n=0; while sleep 1; do n=$((n + 1)); curl -s --compressed "http://127.0.0.1:$HTTP/api/overview" >/dev/null || true
        [ $((n % 10)) = 0 ] && { curl -s --compressed "http://127.0.0.1:$HTTP/api/report" >/dev/null || true; }; done ) &
done
for _ in $(seq 5); do
    ( n=0; while sleep 1; do n=$((n + 1)); curl -s "http://127.0.0.1:$HTTP/api/overview" >/dev/null || true
        [ $((n % 5)) = 0 ] && { curl -s "http://127.0.0.1:$HTTP/api/report" >/dev/null || true; }; done ) &
done
python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $HTTP)); s.sendall(b'GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n')
time.sleep(1e9)
" &

RESULTS="$WORK/results.tsv"
for run in $(seq "$RUNS"); do
    for pipeline in 1 16; do
        for target in "direct:$REDIS" "proxy:$PLAIN" "proxy+outlets:$LIVE"; do
            IFS=: read -r name port <<<"$target"
            [ "$name" = "proxy+outlets" ] && redis-cli -p "$LIVE" flushall >/dev/null
            redis-benchmark -p "$port" -t get,set -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" -r 100000 --csv 2>/dev/null \
                | tr -d '"' | awk -F, -v n="$name" -v p="$pipeline" '$1=="SET"||$1=="GET" {print n "\t" p "\t" $1 "\t" $2}' >>"$RESULTS"
            echo "run $run/$RUNS · -P $pipeline · $name" >&2
        done
    done
done
anomalies=$(curl -s "http://127.0.0.1:$HTTP/api/anomalies" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
kill -INT "$PLAIN_PID" "$LIVE_PID"; wait "$PLAIN_PID" || true; wait "$LIVE_PID" || true

(
python3 - "$RESULTS" "$RUNS" "$REQUESTS" "$CLIENTS" "$WORK" "$anomalies" <<'PY'
import datetime, json, platform, re, statistics, subprocess, sys
results, runs, requests, clients, work, anomalies = sys.argv[1:7]
rps = {}
for line in open(results):
    target, pipeline, test, value = line.split("\t")
    rps.setdefault((int(pipeline), test), {}).setdefault(target, []).append(float(value))
def events(name):
    report = json.load(open(f"{work}/{name}.json"))
    return report["window"]["events"]
def dropped(name):
    log = open(f"{work}/{name}.log").read()
    found = re.search(r"([\d,]+) events were dropped", log)
    return int(found.group(1).replace(",", "")) if found else 0
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {cores} cores shared by Redis, both proxies, redis-benchmark and "
    f"the clients (Linux {platform.release()}): `redis-benchmark -t get,set -n {requests} -c {clients} -r 100000`, "
    f"medians of {runs} interleaved runs. The proxy with outlets served `--http` (scraped every second; ten dashboards "
    f"and five `top` polling as they do; eleven event streams, one never read) and a `--webhook` that never answers "
    f"({anomalies} anomalies opened or kept for it). "
    f"Events analysed: {events('plain'):,} by the proxy alone ({dropped('plain'):,} dropped), {events('live'):,} "
    f"with outlets ({dropped('live'):,} dropped).",
    "",
    "| pipeline | command | direct | proxy | proxy with outlets | outlets / proxy |",
    "|---|---|---:|---:|---:|---:|",
]
for (pipeline, test) in sorted(rps):
    m = {t: statistics.median(v) for t, v in rps[(pipeline, test)].items()}
    lines.append(f"| -P {pipeline} | {test} | {m['direct']:,.0f}/s | {m['proxy']:,.0f}/s | {m['proxy+outlets']:,.0f}/s "
                 f"| {m['proxy+outlets']/m['proxy']:.3f} |")
print("\n".join(lines))
PY
) | write_block live-overhead "What the live outlets cost the traffic"
