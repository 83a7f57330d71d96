#!/usr/bin/env python3
# Compares two pagoda-bench --tokens-out files (greedy ids per request, "id: t t ..." lines) of the
# same workload run with PAGODA_CASCADE_ATTENTION=0 and =1: how many requests are identical and, for
# the others, where they first differ. bf16 attention summed in another order may flip a near-tie
# and the continuation then differs, so PASS needs the same requests, each with tokens, and at least
# MIN_SAME (default 0.9) of them identical. Usage: compare_tokens.py OFF ON [MIN_SAME]
import sys


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            rid, _, ids = line.partition(":")
            out[rid.strip()] = ids.split()
    return out


def main():
    off, on = load(sys.argv[1]), load(sys.argv[2])
    min_same = float(sys.argv[3]) if len(sys.argv) > 3 else 0.9
    if not off or set(off) != set(on):
        print(f"FAIL tokens: the runs hold different requests ({len(off)} vs {len(on)})")
        return 1
    same, firsts = 0, []
    for rid in off:
        a, b = off[rid], on[rid]
        if a == b:
            same += 1
            continue
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        firsts.append(first)
    n = len(off)
    ok = same >= min_same * n and all(len(v) > 0 for v in on.values())
    detail = f", first differences at {sorted(firsts)[:12]}" if firsts else ""
    print(f"{'PASS' if ok else 'FAIL'} tokens: {same}/{n} requests identical with cascade on (need {min_same:.0%}){detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
