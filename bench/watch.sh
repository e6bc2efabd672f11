#!/usr/bin/env bash
# What `cachescope watch` costs the server it watches: redis-benchmark (GET and SET on random keys, so that misses,
# writes and expirations publish events) against one redis-server with keyspace notifications off; on ("AEm")
# with nobody subscribed; on with `cachescope watch` subscribed; and off with `redis-cli MONITOR` attached, the
# tool people reach for otherwise. Rounds are interleaved, RUNS times (default 5); figures are medians. The
# watch's final report says how many events it followed and lost. The table replaces the block between the
# `watch-overhead` markers in BENCHMARKS.md.
#
#   bash bench/watch.sh          RUNS=7 REQUESTS=500000 bash bench/watch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
REQUESTS=${REQUESTS:-300000}
CLIENTS=${CLIENTS:-50}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing: apt-get install redis-tools" >&2; exit 1; }
cargo build --release --quiet --bin cachescope

. bench/lib/common.sh

start_redis "$WORK"
# A memory limit under the benchmark's data (100,000 keys of 400 bytes), so that evictions publish too, with room
# for a subscriber's backlog: a pubsub client's output buffer counts in used memory.
redis-cli -p "$REDIS" config set maxmemory 32mb >/dev/null
redis-cli -p "$REDIS" config set maxmemory-policy allkeys-lru >/dev/null

RESULTS="$WORK/results.tsv"
for run in $(seq "$RUNS"); do
    for pipeline in 1 16; do
        for state in off on-unwatched watch monitor; do
            case "$state" in
                off | monitor) redis-cli -p "$REDIS" config set notify-keyspace-events "" >/dev/null ;;
                on-unwatched | watch) redis-cli -p "$REDIS" config set notify-keyspace-events AEm >/dev/null ;;
            esac
            WATCH_PID=""
            if [ "$state" = watch ]; then
                ./target/release/cachescope watch "redis://127.0.0.1:$REDIS" -o json \
                    >"$WORK/watch-$run-$pipeline.json" 2>"$WORK/watch-$run-$pipeline.log" &
                WATCH_PID=$!
                sleep 0.5
            fi
            MONITOR_PID=""
            if [ "$state" = monitor ]; then
                redis-cli -p "$REDIS" monitor >/dev/null &
                MONITOR_PID=$!
                sleep 0.2
            fi
            { redis-benchmark -p "$REDIS" -t get,set -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" -r 100000 -d 400 --csv 2>/dev/null \
                || echo "redis-benchmark failed: run $run, -P $pipeline, $state" >&2; } \
                | tr -d '"' | awk -F, -v n="$state" -v p="$pipeline" '$1=="SET"||$1=="GET" {print n "\t" p "\t" $1 "\t" $2}' >>"$RESULTS"
            if [ -n "$MONITOR_PID" ]; then kill "$MONITOR_PID"; wait "$MONITOR_PID" 2>/dev/null || true; fi
            if [ -n "$WATCH_PID" ]; then
                kill -INT "$WATCH_PID" 2>/dev/null || echo "cachescope watch had stopped by itself: $(tail -3 "$WORK/watch-$run-$pipeline.log")" >&2
                wait "$WATCH_PID" || true
            fi
            echo "run $run/$RUNS · -P $pipeline · $state" >&2
        done
    done
done
(
python3 - "$RESULTS" "$RUNS" "$REQUESTS" "$CLIENTS" "$WORK" <<'PY'
import datetime, glob, json, platform, statistics, subprocess, sys
results, runs, requests, clients, work = sys.argv[1:6]
rps = {}
for line in open(results):
    state, pipeline, test, value = line.split("\t")
    rps.setdefault((int(pipeline), test), {}).setdefault(state, []).append(float(value))
reports = [json.load(open(path)) for path in glob.glob(f"{work}/watch-*.json")]
followed = sum(r["summary"]["misses"] + r["summary"]["writes"] for r in reports)
gaps = [g for r in reports for g in r.get("server", {}).get("gaps", [])]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {cores} cores shared by Redis, redis-benchmark and the watcher "
    f"(Linux {platform.release()}): `redis-benchmark -t get,set -n {requests} -c {clients} -r 100000 -d 400`, medians of "
    f"{runs} interleaved runs, maxmemory 32 MB under allkeys-lru (misses, writes and evictions all publish). "
    f"`cachescope watch` ran for its rounds only, and followed {followed:,} misses and writes in all, with "
    f"{len(gaps)} gap(s) of lost events ({sum(g['seconds'] for g in gaps):.1f} s).",
    "",
    "| pipeline | command | notifications off | on, nobody subscribed | on, `cachescope watch` | off, `MONITOR` | watch / off | MONITOR / off |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]
for (pipeline, test) in sorted(rps):
    m = {s: statistics.median(v) for s, v in rps[(pipeline, test)].items()}
    lines.append(f"| -P {pipeline} | {test} | {m['off']:,.0f}/s | {m['on-unwatched']:,.0f}/s | {m['watch']:,.0f}/s "
                 f"| {m['monitor']:,.0f}/s | {m['watch']/m['off']:.3f} | {m['monitor']/m['off']:.3f} |")
print("\n".join(lines))
PY
) | write_block watch-overhead "What watch costs the server"
