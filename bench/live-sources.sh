#!/usr/bin/env bash
# What the live sources that add no hop cost the server they follow: redis-benchmark (GET and SET on random keys,
# so that misses, writes and evictions happen) against one redis-server with keyspace notifications off; on
# ("AEm") with nobody subscribed; on with `cachescope watch` subscribed; off with `cachescope capture` reading the
# traffic off loopback; and off with `redis-cli MONITOR` attached, the tool people reach for otherwise. Rounds are
# interleaved, RUNS times (default 5); figures are medians. Each cachescope run's CPU time is read from /proc
# before it stops, and its final report says what it followed and lost (gaps; for capture, kernel drops). The
# table replaces the block between the `live-sources-overhead` markers in BENCHMARKS.md. Capture needs root.
#
#   bash bench/live-sources.sh          RUNS=7 REQUESTS=500000 bash bench/live-sources.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
redis_benchmark_setup

[ "$(id -u)" = 0 ] || { echo "bench/live-sources.sh runs cachescope capture, which needs root" >&2; exit 77; }
cargo build --release --quiet --bin cachescope

start_redis "$WORK"
# A memory limit under the benchmark's data (100,000 keys of 400 bytes), so that evictions publish too, with room
# for a subscriber's backlog: a pubsub client's output buffer counts in used memory.
redis-cli -p "$REDIS" config set maxmemory 32mb >/dev/null
redis-cli -p "$REDIS" config set maxmemory-policy allkeys-lru >/dev/null

# CPU seconds (user + system) a process has used so far.
cpu_seconds() { awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$1/stat"; }

RESULTS="$WORK/results.tsv"
: >"$WORK/cpu.tsv"
for run in $(seq "$RUNS"); do
    for pipeline in 1 16; do
        for state in off on-unwatched watch capture monitor; do
            case "$state" in
                off | monitor | capture) redis-cli -p "$REDIS" config set notify-keyspace-events "" >/dev/null ;;
                on-unwatched | watch) redis-cli -p "$REDIS" config set notify-keyspace-events AEm >/dev/null ;;
            esac
            PID=""
            case "$state" in
                watch)
                    ./target/release/cachescope watch "redis://127.0.0.1:$REDIS" -o json --report-every 1h \
                        >"$WORK/$state-$run-$pipeline.json" 2>"$WORK/$state-$run-$pipeline.log" &
                    PID=$!
                    sleep 0.5 ;;
                capture)
                    ./target/release/cachescope capture --interface lo --port "$REDIS" -o json --report-every 1h \
                        >"$WORK/$state-$run-$pipeline.json" 2>"$WORK/$state-$run-$pipeline.log" &
                    PID=$!
                    sleep 0.5 ;;
                monitor)
                    redis-cli -p "$REDIS" monitor >/dev/null &
                    PID=$!
                    sleep 0.2 ;;
            esac
            { redis-benchmark -p "$REDIS" -t get,set -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" -r 100000 -d 400 --csv 2>/dev/null \
                || echo "redis-benchmark failed: run $run, -P $pipeline, $state" >&2; } \
                | tr -d '"' | awk -F, -v n="$state" -v p="$pipeline" '$1=="SET"||$1=="GET" {print n "\t" p "\t" $1 "\t" $2}' >>"$RESULTS"
            if [ -n "$PID" ]; then
                if [ "$state" != monitor ]; then
                    # What it has left to read (events queued, packets in the kernel's buffer) it reads on stop.
                    sleep 1
                    printf '%s\t%s\t%s\n' "$state" "$pipeline" "$(cpu_seconds "$PID")" >>"$WORK/cpu.tsv"
                fi
                # cachescope stops on SIGINT as on Ctrl-C; a background redis-cli ignores it, so it gets SIGTERM.
                signal=-INT
                [ "$state" = monitor ] && signal=-TERM
                kill "$signal" "$PID" 2>/dev/null || echo "$state had stopped by itself: $(tail -3 "$WORK/$state-$run-$pipeline.log" 2>/dev/null)" >&2
                wait "$PID" || true
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

def reports(state, pipeline=None):
    pattern = f"{work}/{state}-*-{pipeline}.json" if pipeline else f"{work}/{state}-*.json"
    # The final report is the last JSON document of the file (a live run may print others before it).
    def last(text):
        decoder, at, document = json.JSONDecoder(), 0, None
        while text[at:].strip():
            document, at = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
        return document
    return [last(open(path).read()) for path in glob.glob(pattern)]

cpu = {}
for line in open(f"{work}/cpu.tsv"):
    state, pipeline, seconds = line.split("\t")
    cpu.setdefault((state, int(pipeline)), []).append(float(seconds))

watched = reports("watch")
followed = sum(r["summary"]["misses"] + r["summary"]["writes"] for r in watched)
gaps = [g for r in watched for g in r.get("server", {}).get("gaps", [])]
captured = reports("capture")
commands = sum(r["notes"]["capture"]["commands"] for r in captured)
drops = sum(r["notes"]["capture"].get("kernel_drops") or 0 for r in captured)
capture_gaps = sum(r["notes"]["capture"]["gaps"] for r in captured)
machine = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {machine}, {cores} cores shared by Redis, redis-benchmark and cachescope "
    f"(Linux {platform.release()}): `redis-benchmark -t get,set -n {requests} -c {clients} -r 100000 -d 400`, medians of "
    f"{runs} interleaved runs, maxmemory 32 MB under allkeys-lru (misses, writes and evictions all publish). "
    f"`cachescope watch` followed {followed:,} misses and writes in all, with {len(gaps)} gap(s) of lost events "
    f"({sum(g['seconds'] for g in gaps):.1f} s); `cachescope capture` followed {commands:,} commands, with {drops:,} "
    f"packets dropped by the kernel and {capture_gaps} hole(s) in its streams.",
    "",
    "| pipeline | command | notifications off | on, nobody subscribed | on, `watch` | off, `capture` | off, `MONITOR` | watch / off | capture / off | MONITOR / off |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for (pipeline, test) in sorted(rps):
    m = {s: statistics.median(v) for s, v in rps[(pipeline, test)].items()}
    lines.append(f"| -P {pipeline} | {test} | {m['off']:,.0f}/s | {m['on-unwatched']:,.0f}/s | {m['watch']:,.0f}/s "
                 f"| {m['capture']:,.0f}/s | {m['monitor']:,.0f}/s | {m['watch']/m['off']:.3f} "
                 f"| {m['capture']/m['off']:.3f} | {m['monitor']/m['off']:.3f} |")
lines += ["", "CPU that cachescope itself used, per command the benchmark sent (both GET and SET rounds):", "",
          "| pipeline | `watch` | `capture` |", "|---|---:|---:|"]
for pipeline in (1, 16):
    per = lambda state: statistics.median(cpu[(state, pipeline)]) / (2 * int(requests)) * 1e6
    lines.append(f"| -P {pipeline} | {per('watch'):.2f} µs | {per('capture'):.2f} µs |")
print("\n".join(lines))
PY
) | write_block live-sources-overhead "What the live sources cost the server"
