#!/usr/bin/env bash
# `cachescope whatif` against libCacheSim, the simulator researchers use, on the same work: the ARC paper's OLTP
# trace repeated 20 times (18.3 M requests of unit-size pages, written as libCacheSim's oracleGeneral binary by
# bench/lib/repeat_trace.py, so that both read the very same file), a cache of 15,000 pages, two configurations
# a case (exact LRU now and FIFO after; exact LFU now and LRU after). libCacheSim is its own Python package
# (`pip install libcachesim`, the compiled library), each cache a `process_trace` over the file: one after the other (the same work on one core), and the
# two at once in two processes (the same work on both cores, as cachescope runs it). Rounds are interleaved, RUNS
# times (default 5); figures are medians of wall and CPU time; the miss ratios must be identical. The table
# replaces the block between the `whatif-peer` markers in BENCHMARKS.md. `cachescope mrc` on the same file, one thread
# against two, is measured in the same rounds.
#
#   bash bench/whatif.sh            RUNS=7 bash bench/whatif.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
RUNS=${RUNS:-5}
TRACES=${CACHESCOPE_TRACES:-$(cd .. && pwd)/shared/traces}
[ -f "$TRACES/OLTP.lis.zst" ] || {
    echo "bench/whatif.sh needs the public trace OLTP.lis.zst (github.com/moka-rs/cache-trace, arc/), not in" \
        "$TRACES: set CACHESCOPE_TRACES to its folder" >&2
    exit 66
}
python3 -c 'import libcachesim' 2>/dev/null || python3 -m pip install --quiet libcachesim >&2 || {
    echo "bench/whatif.sh needs libCacheSim's Python package: pip install libcachesim" >&2
    exit 69
}
cargo build --release --quiet --bin cachescope
mkdir -p target/bench
TRACE=target/bench/oltp-x20.oracleGeneral.bin
[ -f "$TRACE" ] || python3 bench/lib/repeat_trace.py "$TRACES/OLTP.lis.zst" 20 "$TRACE"

python3 - "$RUNS" "$TRACE" <<'PY' | write_block whatif-peer "What-if against libCacheSim"
import datetime, json, platform, resource, statistics, subprocess, sys, time

runs, trace = int(sys.argv[1]), sys.argv[2]
CACHE = 15000
PEER = """
import sys, libcachesim as lcs
policy = {"lru": lcs.LRU, "fifo": lcs.FIFO, "lfu": lcs.LFU}[sys.argv[2]]
reader = lcs.TraceReader(sys.argv[1], lcs.TraceType.ORACLE_GENERAL_TRACE)
miss_ratio, _ = policy(cache_size=%d).process_trace(reader)
print(1 - miss_ratio)
""" % CACHE

def timed(commands):
    """Runs the commands at once; wall time, CPU time of all, and their outputs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in commands]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for p in procs:
        if p.returncode != 0:
            sys.exit(f"{p.args} failed")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, outputs

POLICY = {"lru": "allkeys-lru-exact", "fifo": "allkeys-fifo", "lfu": "allkeys-lfu-exact"}
def whatif(now, after):
    return ["./target/release/cachescope", "whatif", trace, "--unit-size", "--cache-size", str(CACHE),
            "--current-policy", POLICY[now], "--policy", POLICY[after], "-o", "json"]
peer = lambda policy: [sys.executable, "-c", PEER, trace, policy]
PAIRS = [("lru", "fifo"), ("lfu", "lru")]
cases = {pair: {"cachescope": [], "peer, one core": [], "peer, two cores": []} for pair in PAIRS}
mrc = lambda threads: ["./target/release/cachescope", "mrc", trace, "--unit-size", "--threads", threads, "-o", "json"]
curves = {"1": [], "2": []}
ratios = {}
for _ in range(runs):
    for threads in curves:
        wall, cpu, [out] = timed([mrc(threads)])
        curves[threads].append((wall, cpu, out))
    for pair in PAIRS:
        now, after = pair
        wall, cpu, [out] = timed([whatif(now, after)])
        report = json.loads(out)
        ratios[("cachescope", pair)] = (report["summary"]["before"]["hit_ratio"], report["summary"]["after"]["hit_ratio"])
        cases[pair]["cachescope"].append((wall, cpu))
        first = timed([peer(now)])
        second = timed([peer(after)])
        cases[pair]["peer, one core"].append((first[0] + second[0], first[1] + second[1]))
        ratios[("peer", pair)] = (float(first[2][0]), float(second[2][0]))
        wall, cpu, outs = timed([peer(now), peer(after)])
        cases[pair]["peer, two cores"].append((wall, cpu))
for pair in PAIRS:
    if not all(abs(a - b) < 1e-12 for a, b in zip(ratios[("cachescope", pair)], ratios[("peer", pair)])):
        sys.exit(f"the hit ratios differ: {ratios}")
requests = 914_145 * 20 * 2
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
names = {"lru": "LRU", "fifo": "FIFO", "lfu": "LFU"}
hit_ratios = "; ".join(
    f"{names[p[0]]} {ratios[('peer', p)][0]:.6f} then {names[p[1]]} {ratios[('peer', p)][1]:.6f}" for p in PAIRS)
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {cores} cores, Linux {platform.release()}: OLTP x20 "
    f"(18,282,900 requests), a cache of {CACHE:,} pages, two caches a case (the policy now, and after), medians of "
    f"{runs} interleaved runs. Hit ratios, identical in both: {hit_ratios}.",
    "",
    "| caches | | wall time | CPU time | requests/s (both caches, wall) | cachescope's speed against it (wall) | against it (CPU) |",
    "|---|---|---:|---:|---:|---:|---:|",
]
for pair in PAIRS:
    med = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in cases[pair].items()}
    base = med["cachescope"]
    for name, (wall, cpu_time) in med.items():
        label = {"cachescope": "`cachescope whatif` (2 threads)", "peer, one core": "libCacheSim, one cache after the other",
                 "peer, two cores": "libCacheSim, the two caches in two processes"}[name]
        lines.append(f"| exact {names[pair[0]]}, then {names[pair[1]]} | {label} | {wall:.2f} s | {cpu_time:.2f} s | "
                     f"{requests / wall / 1e6:.1f} M | {wall / base[0]:.2f}x | {cpu_time / base[1]:.2f}x |")
if curves["1"][0][2] != curves["2"][0][2]:
    sys.exit("mrc gave another curve on two threads")
one, two = ((statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v)) for v in curves.values())
lines += [
    "",
    "`cachescope mrc --unit-size` on the same file (the exact LRU curve at every size, with the busiest patterns' "
    "curves), one thread against two (one reads and folds the keys, one computes the stack distances), same runs; "
    "the two curves are identical:",
    "",
    "| | wall time | CPU time | requests/s (wall) | against one thread (wall) |",
    "|---|---:|---:|---:|---:|",
    f"| 1 thread | {one[0]:.2f} s | {one[1]:.2f} s | {requests / 2 / one[0] / 1e6:.1f} M | 1.00x |",
    f"| 2 threads | {two[0]:.2f} s | {two[1]:.2f} s | {requests / 2 / two[0] / 1e6:.1f} M | {one[0] / two[0]:.2f}x |",
]
print("\n".join(lines))
PY
