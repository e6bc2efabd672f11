#!/usr/bin/env bash
# Diagnosis accuracy on the seeded corpus of simulated scenarios (crates/accuracy): miss attribution and findings
# against the simulator's truth, with outcomes (as the proxy sees them) and through the cache model (as a trace of
# requests only is replayed); the suggestions of the first SUGGESTIONS scenarios played through the what-if
# simulator; and the doctor on the first DOCTOR scenarios replayed against a real redis-server (about 40 s each).
# The results replace the block between the `accuracy` markers in BENCHMARKS.md.
#
#   bash bench/accuracy.sh            SCENARIOS=1000 SUGGESTIONS=100 DOCTOR=20 bash bench/accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
SCENARIOS=${SCENARIOS:-300}
SUGGESTIONS=${SUGGESTIONS:-60}
DOCTOR=${DOCTOR:-10}
command -v redis-server >/dev/null || { echo "bench/accuracy.sh needs redis-server for the doctor (scripts/test installs it)" >&2; exit 69; }

cargo build --release --quiet -p cachescope-accuracy -p cachescope
start=$(date +%s)
./target/release/cachescope-accuracy --scenarios "$SCENARIOS" --suggestions "$SUGGESTIONS" --doctor "$DOCTOR" \
    --cachescope target/release/cachescope --failures 10 > target/accuracy.md
elapsed=$(( $(date +%s) - start ))

(
python3 - "$SCENARIOS" "$elapsed" <<'PY'
import datetime, subprocess, sys

scenarios, elapsed = sys.argv[1], sys.argv[2]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
body = open("target/accuracy.md").read().strip()
head = (f"Measured {datetime.date.today()} on {cpu}, {cores} cores: seeds 0 to {int(scenarios) - 1} of the corpus, "
        f"{elapsed} s in all. A wrong case replays with `cargo run --release -p cachescope-accuracy -- --seed N`.")
print(head + "\n\n" + body)
PY
) | write_block accuracy "Diagnosis accuracy"
