#!/usr/bin/env python3
"""Where a kernel's warps stall, by SASS instruction: reads `ncu -i REP --page source --print-source sass --csv`
output (optionally gzipped) and prints the share of stall samples and of executed instructions by opcode, then the
instructions holding the most samples with their top three stall reasons.
Usage: ncu_source_stalls.py SOURCE.csv[.gz] [TOP]"""
import csv
import gzip
import sys


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = list(csv.reader(f))
    header, data = rows[1], rows[2:]  # row 0 names the kernel
    col = {h: i for i, h in enumerate(header)}
    samples = col["Warp Stall Sampling (All Samples)"]
    executed = col["Instructions Executed"]
    source = col["Source"]
    reasons = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    num = lambda r, i: int(r[i] or 0)
    total_s = sum(num(r, samples) for r in data) or 1
    total_e = sum(num(r, executed) for r in data) or 1
    print(f"{rows[0][1][:120]}")
    print(f"instructions {len(data)}, stall samples {total_s}, warp-instructions executed {total_e}")
    by_op = {}
    for r in data:
        words = r[source].split()
        op = (words[1] if words and words[0].startswith("@") and len(words) > 1 else (words[0] if words else "?"))
        acc = by_op.setdefault(op.split(".")[0], [0, 0])
        acc[0] += num(r, samples)
        acc[1] += num(r, executed)
    print("opcode     samples %  executed %")
    for op, (s, e) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:16]:
        print(f"{op:10s} {100 * s / total_s:9.1f}  {100 * e / total_e:10.1f}")
    print("\ninstructions with the most stall samples (index in the kernel, share, SASS, top reasons):")
    ranked = sorted(range(len(data)), key=lambda i: -num(data[i], samples))[:top]
    for i in ranked:
        r = data[i]
        why = sorted(((num(r, col[h]), h[len("stall_"):]) for h in reasons), reverse=True)[:3]
        print(f"{i:5d} {100 * num(r, samples) / total_s:5.1f}%  {r[source].strip()[:60]:60s} {why}")


if __name__ == "__main__":
    main()
