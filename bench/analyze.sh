#!/usr/bin/env bash
# The analysis benchmark: throughput of `cachescope analyze` on generated traces, in the compact format and as a
# Twitter CSV (replayed through the LRU model), on one thread and on two, exact (1 M distinct keys, within the
# default key budget) against sampled (a smaller budget; 10 M distinct keys), with peak memory (max RSS); and a
# split into 4 shards (`--shard I/4`, then `cachescope merge`) against one run, with the merged report checked
# equal to the one run's; and what the two cores allow (two one-thread runs at once, one on each core).
#
# The analysis is measured alone (`--no-simulation`); the whole command, with the suggestions replayed through a
# model, has its own row. One thread runs pinned to one core, two threads on both. Cases run interleaved, RUNS
# times each (default 5); the figures are medians. The results replace the block between the `analyze` markers in
# BENCHMARKS.md.
#
#   bash bench/analyze.sh            RUNS=11 bash bench/analyze.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=target/bench
mkdir -p "$DATA"

cargo build --release --quiet --bin cachescope --example generate_trace
BIN=./target/release/cachescope
GEN=./target/release/examples/generate_trace

generate() { # EVENTS KEYS FORMAT FILE
    # A compact trace generated before the format had blocks is generated again.
    if [ "$3" = compact ] && [ -s "$DATA/$4" ] && [ "$(head -c 9 "$DATA/$4" | tail -c 1 | od -An -tx1 | tr -d ' ')" != 02 ]; then
        rm "$DATA/$4"
    fi
    [ -s "$DATA/$4" ] || "$GEN" "$1" "$2" "$3" "$DATA/$4"
}
generate 10000000 1000000 compact k1m.cst
generate 10000000 1000000 compact-v1 k1m-v1.cst
generate 10000000 1000000 csv k1m.csv
generate 100000000 10000000 compact k10m-100m.cst

# name | file | cores | extra arguments
CASES=(
    "compact, 10 M events, 1 M keys, exact|k1m.cst|0|--threads 1"
    "compact, 10 M events, 1 M keys, exact|k1m.cst|0,1|--threads 2"
    "compact version 1 (no blocks: one thread decodes for the others), 10 M events, 1 M keys, exact|k1m-v1.cst|0|--threads 1"
    "compact version 1 (no blocks: one thread decodes for the others), 10 M events, 1 M keys, exact|k1m-v1.cst|0,1|--threads 2"
    "compact, 10 M events, 1 M keys, sampled (16 MiB budget)|k1m.cst|0|--threads 1 --key-budget 16MiB"
    "Twitter CSV, 10 M lines, 1 M keys, through the LRU model joining a running cache (one thread)|k1m.csv|0|--threads 1"
    "Twitter CSV, 10 M lines, 1 M keys, through the LRU model from an empty cache|k1m.csv|0|--threads 1 --cache-start empty"
    "Twitter CSV, 10 M lines, 1 M keys, through the LRU model from an empty cache|k1m.csv|0,1|--threads 2 --cache-start empty"
    "compact, 100 M events, 10 M keys, sampled (64 MiB budget)|k10m-100m.cst|0|--threads 1"
    "compact, 100 M events, 10 M keys, sampled (64 MiB budget)|k10m-100m.cst|0,1|--threads 2"
    "whole command with simulated gains: compact, 10 M events|k1m.cst|0,1|--threads 2 --simulate"
)

RESULTS="$DATA/results.tsv"
SHARDS="$DATA/shards.tsv"
PAIRS="$DATA/pairs.tsv"
: > "$RESULTS"
: > "$SHARDS"
: > "$PAIRS"
for run in $(seq "$RUNS"); do
    for case in "${CASES[@]}"; do
        IFS='|' read -r name file cores extra <<< "$case"
        simulation="--no-simulation"
        if [[ $extra == *--simulate* ]]; then simulation=""; extra=${extra/--simulate/}; fi
        threads=$(awk '{for (i = 1; i < NF; i++) if ($i == "--threads") print $(i + 1)}' <<< "$extra")
        # shellcheck disable=SC2086
        measured=$( { /usr/bin/time -f "%e %M" taskset -c "$cores" "$BIN" analyze "$DATA/$file" --quiet -o json \
            $simulation $extra > "$DATA/last.json"; } 2>&1 | tail -n 1)
        events=$(python3 -c "import json; print(json.load(open('$DATA/last.json'))['window']['events'])")
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$threads" "$events" $measured >> "$RESULTS"
        echo "run $run/$RUNS · $name · $threads thread(s) · $measured" >&2
    done
    # What the two cores allow: two one-thread runs of the first case at once, one pinned to each core. Where
    # each takes longer than alone, the cores share what the analysis waits on (a cache, the memory), and no
    # split of the work on two threads can give 2x.
    for core in 0 1; do
        /usr/bin/time -o "$DATA/pair$core.time" -f "%e" taskset -c "$core" "$BIN" analyze "$DATA/k1m.cst" --quiet \
            -o json --no-simulation --threads 1 > /dev/null &
    done
    wait
    pair=$(tail -qn 1 "$DATA/pair0.time" "$DATA/pair1.time" | paste -sd ' ')
    printf '%s\n' "$pair" | tr ' ' '\t' >> "$PAIRS"
    echo "run $run/$RUNS · two one-thread runs side by side · $pair" >&2
    # 4 shards one after the other on one core, then the merge, against the first row's one run.
    shard_total=0
    for i in 1 2 3 4; do
        seconds=$( { /usr/bin/time -f "%e" taskset -c 0 "$BIN" analyze "$DATA/k1m.cst" --quiet --threads 1 \
            --shard "$i/4" --share-file "$DATA/part$i.cs"; } 2>&1 | tail -n 1)
        shard_total=$(python3 -c "print($shard_total + $seconds)")
    done
    merge=$( { /usr/bin/time -f "%e %M" taskset -c 0 "$BIN" merge -o json "$DATA"/part{1,2,3,4}.cs \
        > "$DATA/merged.json"; } 2>&1 | tail -n 1)
    "$BIN" analyze "$DATA/k1m.cst" --quiet -o json --no-simulation --threads 1 > "$DATA/one.json"
    same=$(python3 - "$DATA/one.json" "$DATA/merged.json" <<'PY'
import json, sys
def strip(report):
    # The keys named hottest may differ among equally hot ones (docs/shards.md); everything else must not.
    for f in report["findings"]:
        for section in (f["evidence"].get("metrics", {}), f["suggestion"].get("parameters", {})):
            section.pop("hot_evicted_keys", None)
            section.pop("keys", None)
        f["evidence"]["details"] = [d for d in f["evidence"]["details"] if not d.startswith("Hottest")]
        f["suggestion"]["summary"] = f["suggestion"]["summary"].split(", hottest keys first")[0]
    return report
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
print("equal" if a == b else "DIFFERENT")
PY
)
    shard_bytes=$(stat -c %s "$DATA"/part1.cs)
    printf '%s\t%s\t%s\t%s\n' "$shard_total" "$merge" "$same" "$shard_bytes" >> "$SHARDS"
    echo "run $run/$RUNS · 4 shards $shard_total s · merge $merge · $same" >&2
done

python3 - "$RESULTS" "$SHARDS" "$RUNS" "$PAIRS" <<'PY'
import statistics, sys, platform, subprocess, datetime, re
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
shards = [line.rstrip("\n").split("\t") for line in open(sys.argv[2])]
runs = sys.argv[3]
pairs = [float(t) for line in open(sys.argv[4]) for t in line.split()]
cases = {}
for name, threads, events, seconds, rss in rows:
    case = cases.setdefault((name, threads), {"events": int(events), "seconds": [], "rss": []})
    case["seconds"].append(float(seconds))
    case["rss"].append(int(rss) * 1024)
def rate(case):
    return case["events"] / statistics.median(case["seconds"])
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores "
    f"(a shared virtual machine: runs vary by up to 2x, so the figures are medians of {runs} interleaved runs), "
    f"Linux {platform.release()}. Whole command (reading, analysis, report) without the simulated gains unless "
    "the row says; one thread pinned to one core, two threads on both.",
    "",
    "| case | threads | events | median time | events/s (median) | fastest run | 2 threads against 1 | peak memory (median) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
for (name, threads), case in cases.items():
    median = statistics.median(case["seconds"])
    one = cases.get((name, "1"))
    speedup = f"{statistics.median(one['seconds']) / median:.2f}x" if threads == "2" and one else ""
    lines.append(
        f"| {name} | {threads} | {case['events']:,} | {median:.2f} s | {rate(case)/1e6:.2f} M | "
        f"{case['events']/min(case['seconds'])/1e6:.2f} M/s | {speedup} | {statistics.median(case['rss'])/2**20:.0f} MiB |"
    )
one = cases[("compact, 10 M events, 1 M keys, exact", "1")]
alone = statistics.median(one["seconds"])
side = statistics.median(pairs)
lines += [
    "",
    f"What two cores allow: two one-thread runs of the first case at once, one pinned to each core (same rounds), "
    f"took {side:.2f} s each (median), {side / alone:.2f}x the {alone:.2f} s of one alone: two threads could give "
    f"at most about {2 * alone / side:.2f}x on this host.",
]
total = statistics.median(float(s[0]) for s in shards)
merge = statistics.median(float(s[1].split()[0]) for s in shards)
merge_rss = statistics.median(int(s[1].split()[1]) * 1024 for s in shards)
verdicts = sorted(set(s[2] for s in shards))
size = statistics.median(int(s[3]) for s in shards)
lines += [
    "",
    "Split into 4 shards (`--shard I/4`, one after the other on one core) and merged, against one run of the first "
    "row, same runs:",
    "",
    "| | median time | against one run |",
    "|---|---:|---:|",
    f"| one run, 1 thread | {statistics.median(one['seconds']):.2f} s | 1.00 |",
    f"| 4 shards, in sequence | {total:.2f} s | {total / statistics.median(one['seconds']):.2f} |",
    f"| each shard (a quarter of the 4) | {total / 4:.2f} s | {total / 4 / statistics.median(one['seconds']):.2f} |",
    f"| merge of the 4 files ({size / 2**10:.0f} KiB each) | {merge:.2f} s, {merge_rss / 2**20:.0f} MiB | {merge / statistics.median(one['seconds']):.2f} |",
    "",
    f"Merged report against the one run's (all but the keys named hottest, docs/shards.md): {', '.join(verdicts)}.",
]
block = "\n".join(lines)
path = "BENCHMARKS.md"
text = open(path).read()
text = re.sub(r"<!-- analyze:begin -->.*<!-- analyze:end -->", "<!-- analyze:begin -->\n" + block + "\n<!-- analyze:end -->", text, flags=re.S)
open(path, "w").write(text)
print(block)
PY
