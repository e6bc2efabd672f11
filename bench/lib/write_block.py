"""Replaces a marked block of BENCHMARKS.md with stdin: write_block.py NAME "Section title"."""
import re
import sys

name, title = sys.argv[1], sys.argv[2]
block = sys.stdin.read().strip()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
path = "BENCHMARKS.md"
text = open(path).read()
if begin not in text:
    text += f"\n## {title}\n\n{begin}\n{end}\n"
text = re.sub(re.escape(begin) + ".*" + re.escape(end), lambda _: f"{begin}\n{block}\n{end}", text, flags=re.S)
open(path, "w").write(text)
print(block)
