#!/usr/bin/env bash
# The live anomaly detector on the detection corpus (crates/sim/src/scenario/detection.rs, measured by
# crates/accuracy/src/detection.rs): healthy runs with a daily swing, bursts and quiet patterns, and runs with one
# fault injected part-way (TTL cut, maxmemory cut, key format changed after a deploy, restart, writes refused,
# flush), through the same window/series/detector code the live commands run. It also measures the live series'
# memory over a simulated 48 hours. The results replace the block between the `detection` markers in
# BENCHMARKS.md.
#
#   bash bench/detection.sh           HEALTHY=20 HOURS=24 FAULTED=50 bash bench/detection.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
HEALTHY=${HEALTHY:-10}
HOURS=${HOURS:-24}
FAULTED=${FAULTED:-20}

cargo build --release --quiet -p cachescope-accuracy
start=$(date +%s)
./target/release/detection --healthy "$HEALTHY" --hours "$HOURS" --faulted "$FAULTED" --failures 12 > target/detection.md
./target/release/detection --memory-hours 48 >> target/detection.md
elapsed=$(( $(date +%s) - start ))

(
python3 - "$elapsed" <<'PY'
import datetime, subprocess, sys

elapsed = sys.argv[1]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
body = open("target/detection.md").read().strip()
head = (f"Measured {datetime.date.today()} on {cpu}, {cores} cores, {elapsed} s in all. Delays count windows from "
        "the one the fault comes in (1: flagged at the end of that window; for refused writes, the one of the first "
        "write refused). A run replays with "
        "`cargo run --release -p cachescope-accuracy --bin detection -- --help`.")
print(head + "\n\n" + body)
PY
) | write_block detection "Live anomaly detection"
