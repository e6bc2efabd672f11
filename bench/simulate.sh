#!/usr/bin/env bash
# The simulator's benchmark:
#  1. requests per second of each eviction policy replaying the shared OLTP trace (criterion, one core);
#  2. miss-ratio curves of OLTP, exact against SHARDS (criterion): speed-up and mean absolute error;
#  3. `cachescope mrc` on a generated 20-million-event trace with 10 million keys, exact against SHARDS: time,
#     peak memory (max RSS) and mean absolute error of the curve, medians of RUNS interleaved runs (default 5).
# The results replace the block between the `simulate` markers in BENCHMARKS.md.
#
#   bash bench/simulate.sh            RUNS=7 bash bench/simulate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=target/bench
mkdir -p "$DATA"
# The public traces (not in the repository): CACHESCOPE_TRACES, or a shared folder beside it.
TRACES=${CACHESCOPE_TRACES:-$(cd .. && pwd)/shared/traces}
for trace in OLTP.lis.zst cloudPhysicsIO.oracleGeneral.bin; do
    if [ ! -f "$TRACES/$trace" ]; then
        echo "bench/simulate.sh needs the public trace $trace, not in $TRACES: set CACHESCOPE_TRACES to the folder" \
            "holding OLTP.lis.zst (github.com/moka-rs/cache-trace, arc/) and cloudPhysicsIO.oracleGeneral.bin" \
            "(github.com/1a1a11a/libCacheSim, data/)" >&2
        exit 66
    fi
done
export CACHESCOPE_TRACES=$TRACES

taskset -c 0 cargo bench --quiet -p cachescope-sim --bench policies -- --warm-up-time 2 --measurement-time 8 \
    >&2

cargo build --release --quiet --bin cachescope --example generate_trace
BIN=./target/release/cachescope
[ -s "$DATA/k10m.cst" ] || ./target/release/examples/generate_trace 20000000 10000000 compact "$DATA/k10m.cst"
SIZES=16mb,64mb,256mb,512mb,1gb,2gb,4gb,8gb

# name | extra arguments
CASES=(
    "exact|"
    "SHARDS, rate 0.01|--sample-rate 0.01"
    "SHARDS, rate 0.001|--sample-rate 0.001"
    "SHARDS, 65,536 keys|--sample-keys 65536"
)
RESULTS="$DATA/simulate.tsv"
: > "$RESULTS"
for run in $(seq "$RUNS"); do
    for case in "${CASES[@]}"; do
        IFS='|' read -r name extra <<< "$case"
        slug=$(echo "$name" | tr -c 'a-z0-9' '_')
        # shellcheck disable=SC2086
        measured=$( { /usr/bin/time -f "%e %M" taskset -c 0 "$BIN" mrc "$DATA/k10m.cst" --quiet -o json \
            --sizes "$SIZES" --patterns 0 $extra > "$DATA/mrc-$slug.json"; } 2>&1 | tail -n 1)
        printf '%s\t%s\t%s\n' "$name" "$slug" "$measured" >> "$RESULTS"
        echo "run $run/$RUNS · $name · $measured" >&2
    done
done

python3 - "$RESULTS" "$RUNS" <<'PY'
import datetime, json, platform, re, statistics, subprocess, sys
from pathlib import Path

runs = sys.argv[2]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()

def median_ns(group, bench):
    path = Path("target/criterion") / group / bench / "new/estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]

OLTP_REQUESTS = 914_145
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {cores} cores (a shared virtual machine: figures are medians), "
    f"Linux {platform.release()}, pinned to one core.",
    "",
    "**Replaying OLTP** (914,145 requests of unit-size pages, a cache of 15,000 pages, `CacheModel::request`; "
    "criterion medians):",
    "",
    "| policy | median time | requests/s | ratio to allkeys-lru-exact |",
    "|---|---:|---:|---:|",
]
group = "replay OLTP, 15,000 pages"
base = median_ns(group, "allkeys-lru-exact")
for policy in ["allkeys-lru-exact", "allkeys-fifo", "allkeys-lfu-exact", "allkeys-random", "allkeys-lru", "allkeys-lfu"]:
    ns = median_ns(group, policy)
    lines.append(f"| {policy} | {ns/1e6:.1f} ms | {OLTP_REQUESTS/(ns/1e9)/1e6:.1f} M | {base/ns:.2f} |")

lines += [
    "",
    "**Miss-ratio curve of OLTP**, stack distances and curve (criterion medians); the error is the mean absolute "
    "difference from the exact curve over 100 sizes spread evenly (`crates/sim/tests/validation.rs`):",
    "",
    "| method | median time | requests/s | speed-up over exact |",
    "|---|---:|---:|---:|",
]
group = "miss-ratio curve of OLTP"
base = median_ns(group, "exact")
for method in ["exact", "shards rate 0.1", "shards rate 0.01", "shards 2048 keys"]:
    ns = median_ns(group, method)
    lines.append(f"| {method} | {ns/1e6:.1f} ms | {OLTP_REQUESTS/(ns/1e9)/1e6:.1f} M | {base/ns:.1f}x |")

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
cases = {}
for name, slug, measured in rows:
    seconds, rss = measured.split()
    case = cases.setdefault(name, {"slug": slug, "seconds": [], "rss": []})
    case["seconds"].append(float(seconds))
    case["rss"].append(int(rss) * 1024)
def points(slug):
    report = json.loads(Path(f"target/bench/mrc-{slug}.json").read_text())
    return report, [p["miss_ratio"] for p in report["points"]]
exact_report, exact_points = points(cases["exact"]["slug"])
lines += [
    "",
    f"**`cachescope mrc` on a generated trace** of 20,000,000 events, {exact_report['reads']:,} reads over 10,000,000 "
    f"keys (Zipf 0.9, values of 100 B to 64 KiB); whole command, medians of {runs} interleaved runs; the error is "
    "the mean absolute difference from the exact curve at 16 MiB to 8 GiB:",
    "",
    "| method | median time | speed-up over exact | keys followed | peak memory (median) | mean absolute error |",
    "|---|---:|---:|---:|---:|---:|",
]
base = statistics.median(cases["exact"]["seconds"])
for name, case in cases.items():
    report, curve = points(case["slug"])
    error = sum(abs(a - b) for a, b in zip(curve, exact_points)) / len(curve)
    median = statistics.median(case["seconds"])
    lines.append(
        f"| {name} | {median:.2f} s | {base/median:.1f}x | {report['tracked_keys']:,} "
        f"| {statistics.median(case['rss'])/2**20:.0f} MiB | {error:.4f} |"
    )

validation = subprocess.run(
    ["cargo", "test", "--release", "--quiet", "-p", "cachescope-sim", "--test", "validation", "--", "--nocapture"],
    capture_output=True, text=True,
).stderr
def draws(pattern):
    found = re.search(pattern, validation)
    return [float(x) for x in found.group(1).split(", ")] if found else None
oltp = draws(r"OLTP, SHARDS at rate 0\.01, mean absolute error of nine draws: \[([^\]]+)\]")
cloud = draws(r"cloudPhysicsIO, SHARDS at rate 0\.01: \[([^\]]+)\]")
cloud_fixed = draws(r"with 8,192 keys: \[([^\]]+)\]")
if oltp and cloud and cloud_fixed:
    lines += ["", "SHARDS on the shared traces, mean absolute error over 100 sizes spread evenly, median (and worst) of nine "
              "samples drawn with different hash seeds (`crates/sim/tests/validation.rs`):", "",
              "| trace | keys | sampling | median error | worst of nine |", "|---|---:|---|---:|---:|",
              f"| `OLTP.lis.zst` | 186,880 | rate 0.01 | {statistics.median(oltp):.4f} | {max(oltp):.4f} |",
              f"| `cloudPhysicsIO.oracleGeneral.bin` | 48,974 | rate 0.01 | {statistics.median(cloud):.4f} | {max(cloud):.4f} |",
              f"| `cloudPhysicsIO.oracleGeneral.bin` | 48,974 | 8,192 keys | {statistics.median(cloud_fixed):.4f} | {max(cloud_fixed):.4f} |"]
approximations = subprocess.run(
    ["cargo", "test", "--release", "--quiet", "-p", "cachescope-sim", "--test", "redis_approximations", "--",
     "--nocapture", "--test-threads", "1"],
    capture_output=True, text=True,
).stderr
found = re.findall(r"^((?:allkeys|volatile)-\S+ \(maxmemory-samples \d+\) vs \S+, \d+ of \d+ keys[^:]*: .*)$", approximations, re.M)
if found:
    lines += ["", "**Redis's approximations against exact** (2,000,000 Zipf(0.9) requests over 100,000 keys, 2,000 a "
              "second, `crates/sim/tests/redis_approximations.rs`), hit ratios:", ""]
    lines += [f"- {line}" for line in found]

block = "\n".join(lines)
path = "BENCHMARKS.md"
text = open(path).read()
if "<!-- simulate:begin -->" not in text:
    text += "\n## Simulation\n\n<!-- simulate:begin -->\n<!-- simulate:end -->\n"
text = re.sub(r"<!-- simulate:begin -->.*<!-- simulate:end -->", "<!-- simulate:begin -->\n" + block + "\n<!-- simulate:end -->", text, flags=re.S)
open(path, "w").write(text)
print(block)
PY
