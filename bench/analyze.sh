#!/usr/bin/env bash
# The analysis benchmark: throughput of `cachescope analyze` on generated 10-million-event traces, in the compact
# format and as a Twitter CSV (replayed through the LRU model), exact (1 M distinct keys, within the default key
# budget) against sampled (a smaller budget; 10 M distinct keys), and peak memory (max RSS).
#
# Cases run interleaved, RUNS times each (default 7), pinned to one core; the figures are medians. The results
# replace the block between the `analyze` markers in BENCHMARKS.md.
#
#   bash bench/analyze.sh            RUNS=11 bash bench/analyze.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
DATA=target/bench
mkdir -p "$DATA"

cargo build --release --quiet --bin cachescope --example generate_trace
BIN=./target/release/cachescope
GEN=./target/release/examples/generate_trace

generate() { # EVENTS KEYS FORMAT FILE
    [ -s "$DATA/$4" ] || "$GEN" "$1" "$2" "$3" "$DATA/$4"
}
generate 10000000 1000000 compact k1m.cst
generate 10000000 1000000 csv k1m.csv
generate 20000000 10000000 compact k10m.cst

# name | file | extra arguments
CASES=(
    "compact, 1 M keys, exact|k1m.cst|"
    "compact, 1 M keys, sampled (16 MiB budget)|k1m.cst|--key-budget 16MiB"
    "Twitter CSV, 1 M keys, through the LRU model|k1m.csv|"
    "compact, 10 M keys, sampled (64 MiB budget)|k10m.cst|"
    "compact, 10 M keys, sampled (256 MiB budget)|k10m.cst|--key-budget 256MiB"
)

RESULTS="$DATA/results.tsv"
: > "$RESULTS"
for run in $(seq "$RUNS"); do
    for case in "${CASES[@]}"; do
        IFS='|' read -r name file extra <<< "$case"
        # shellcheck disable=SC2086
        measured=$( { /usr/bin/time -f "%e %M" taskset -c 0 "$BIN" analyze "$DATA/$file" --quiet -o json $extra \
            > "$DATA/last.json"; } 2>&1 | tail -n 1)
        events=$(python3 -c "import json; print(json.load(open('$DATA/last.json'))['window']['events'])")
        printf '%s\t%s\t%s\t%s\n' "$name" "$events" $measured >> "$RESULTS"
        echo "run $run/$RUNS · $name · $measured" >&2
    done
done

python3 - "$RESULTS" "$RUNS" <<'PY'
import statistics, sys, platform, subprocess, datetime, re
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
runs = sys.argv[2]
cases = {}
for name, events, seconds, rss in rows:
    cases.setdefault(name, {"events": int(events), "seconds": [], "rss": []})
    cases[name]["seconds"].append(float(seconds))
    cases[name]["rss"].append(int(rss) * 1024)
def rate(case):
    return case["events"] / statistics.median(case["seconds"])
names = list(cases)
base = cases[names[0]]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores "
    f"(a shared virtual machine: runs vary by up to 2x, so the figures are medians of {runs} interleaved runs), "
    f"Linux {platform.release()}, pinned to one core. Whole command: reading, analysis, report.",
    "",
    "| case | events | median time | events/s (median) | fastest run | ratio to the first row | peak memory (median) |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for name in names:
    case = cases[name]
    median = statistics.median(case["seconds"])
    lines.append(
        f"| {name} | {case['events']:,} | {median:.2f} s | {rate(case)/1e6:.2f} M | {case['events']/min(case['seconds'])/1e6:.2f} M/s "
        f"| {rate(case)/rate(base):.2f} | {statistics.median(case['rss'])/2**20:.0f} MiB |"
    )
block = "\n".join(lines)
path = "BENCHMARKS.md"
text = open(path).read()
text = re.sub(r"<!-- analyze:begin -->.*<!-- analyze:end -->", "<!-- analyze:begin -->\n" + block + "\n<!-- analyze:end -->", text, flags=re.S)
open(path, "w").write(text)
print(block)
PY
