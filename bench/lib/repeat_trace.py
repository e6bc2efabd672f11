"""Writes an ARC block trace (`start_block n_blocks ignore request_no` a line, zstd-compressed or not) repeated
TIMES times as libCacheSim's oracleGeneral binary format: one request a line for its first block, each a
unit-size object, `next_access_vtime` -1 (the policies measured do not look ahead). Both cachescope and
libCacheSim read the file, so that they replay the very same requests.

    python3 bench/lib/repeat_trace.py OLTP.lis.zst 20 target/bench/oltp-x20.oracleGeneral.bin
"""

import struct
import subprocess
import sys


def main():
    source, times, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if source.endswith(".zst"):
        text = subprocess.run(["zstd", "-dc", source], check=True, capture_output=True).stdout.decode()
    else:
        text = open(source).read()
    blocks = [int(line.split()[0]) for line in text.splitlines() if line.strip()]
    record = struct.Struct("<IQIq")
    with open(out, "wb") as f:
        for round in range(times):
            first = round * len(blocks) + 1
            f.write(b"".join(record.pack(first + i, block, 1, -1) for i, block in enumerate(blocks)))
    print(f"{len(blocks) * times} requests, {len(set(blocks))} distinct blocks", file=sys.stderr)


main()
