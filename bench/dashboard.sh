#!/usr/bin/env bash
# What the dashboard costs to load with a big live layer: 500 patterns and 24 hours of 10 s windows (a made-up
# one, crates/web/examples/synthetic.rs), over loopback, as a browser asks (gzip accepted). For each request the
# server's answer time and the bytes transferred, medians of RUNS interleaved rounds (default 21); a first load is
# the page, its script and stylesheet, and the overview the script fetches. The table replaces the block between
# the `dashboard` markers in BENCHMARKS.md. With chromedriver and Chromium installed, a headless Chromium also
# loads the page RUNS_BROWSER times (default 5): the time from navigation to the charts and the patterns table
# drawn with the live data, as the browser's own clock says.
#
#   bash bench/dashboard.sh          RUNS=51 bash bench/dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
RUNS=${RUNS:-21}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v curl >/dev/null || { echo "curl is missing: apt-get install curl" >&2; exit 1; }

cargo build --release --quiet -p cachescope-web --example synthetic
PORT=$(free_port)
./target/release/examples/synthetic "$PORT" 2>"$WORK/server.log" &
for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done

PATHS=("/" "/assets/dashboard.js" "/assets/dashboard.css" "/api/overview" "/api/series" "/api/series?pattern=pattern499%3A%7Bnum%7D" "/metrics")
for _ in $(seq "$RUNS"); do
    for path in "${PATHS[@]}"; do
        curl -s --compressed -o /dev/null -w "$path\t%{time_total}\t%{size_download}\n" "http://127.0.0.1:$PORT$path" >>"$WORK/results.tsv"
    done
done

# The browser: WebDriver spoken with curl (plain HTTP and JSON).
RUNS_BROWSER=${RUNS_BROWSER:-5}
if command -v chromedriver >/dev/null && [ -x /usr/bin/chromium ]; then
    DRIVER=$(free_port)
    chromedriver --port="$DRIVER" >/dev/null 2>&1 &
    for _ in $(seq 50); do curl -s "http://127.0.0.1:$DRIVER/status" >/dev/null && break; sleep 0.1; done
    for _ in $(seq "$RUNS_BROWSER"); do
        session=$(curl -s -X POST "http://127.0.0.1:$DRIVER/session" -H 'Content-Type: application/json' -d '{"capabilities":
            {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"]}}}}' |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["value"]["sessionId"])')
        # Twice in the same browser: the first navigation also starts the browser's page machinery, the
        # second is what a user of a running browser waits for.
        for kind in browser-cold browser; do
            curl -s -X POST "http://127.0.0.1:$DRIVER/session/$session/url" -H 'Content-Type: application/json' \
                -d "{\"url\": \"http://127.0.0.1:$PORT/?$kind\"}" >/dev/null
            curl -s -X POST "http://127.0.0.1:$DRIVER/session/$session/execute/async" -H 'Content-Type: application/json' \
                -d '{"args": [], "script": "const done = arguments[0]; const check = () => { const rows = document.querySelectorAll(\"#patterns tbody tr\").length; if (document.querySelector(\"#hit-chart polyline\") && document.querySelector(\"#cause-chart polygon\") && rows >= 500) { done(performance.now()); } else { setTimeout(check, 5); } }; check();"}' |
                python3 -c 'import json, sys; print(sys.argv[1] + "\t" + str(json.load(sys.stdin)["value"] / 1000) + "\t0")' "$kind" >>"$WORK/results.tsv"
        done
        curl -s -X DELETE "http://127.0.0.1:$DRIVER/session/$session" >/dev/null
    done
else
    echo "chromedriver or /usr/bin/chromium is missing: the browser's drawing time is not measured" >&2
fi

python3 - "$WORK/results.tsv" "$RUNS" <<'PY' | write_block dashboard "Dashboard load with 500 patterns and 24 hours"
import collections, datetime, statistics, subprocess, sys
rows = collections.defaultdict(lambda: ([], []))
order = []
for line in open(sys.argv[1]):
    path, seconds, size = line.rstrip("\n").split("\t")
    if path not in rows:
        order.append(path)
    rows[path][0].append(float(seconds) * 1000)
    rows[path][1].append(int(size))
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
print(f"Measured {datetime.date.today()} on {cpu}, loopback, medians of {sys.argv[2]} interleaved rounds (curl, gzip "
      "accepted): a made-up live layer of 500 patterns with 24 hours of 10 s windows.\n")
print("| request | answered in | transferred |\n|---|---:|---:|")
first_ms = first_bytes = 0
for path in order:
    if path.startswith("browser"):
        continue
    ms, size = statistics.median(rows[path][0]), statistics.median(rows[path][1])
    print(f"| `{path}` | {ms:.1f} ms | {size / 1024:.0f} KiB |")
    if path in ("/", "/assets/dashboard.js", "/assets/dashboard.css", "/api/overview"):
        first_ms += ms
        first_bytes += size
print(f"\nA first load (page, script, stylesheet, overview, one after the other): {first_ms:.1f} ms and "
      f"{first_bytes / 1024:.0f} KiB.")
if "browser" in rows:
    warm, cold = rows["browser"][0], rows["browser-cold"][0]
    print(f"In headless Chromium, from navigation to both charts and the 500-row table drawn with live data: "
          f"{statistics.median(warm):.0f} ms in a running browser (median of {len(warm)} loads, {min(warm):.0f} to "
          f"{max(warm):.0f} ms); {statistics.median(cold):.0f} ms for a new browser's first page.")
PY
