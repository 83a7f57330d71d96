#!/usr/bin/env python3
"""Per-kernel times of a CUDA-graph step from kernel_trace.cpp's CSV: each graph launch is one step; for every
kernel it prints its duration, the idle gap before it and its exclusive time (how far it moves the step's end past
every kernel before it, so a kernel that overlaps its predecessor under PDL is charged only for what sticks out).
Exclusive times and gaps add up to the step. Usage: kernel_trace_summary.py trace.csv [--skip N] [--graph-size N]"""
import argparse
import bisect
import gzip
import csv
import re
import statistics
from collections import Counter, OrderedDict


def label(row):
    name = re.sub(r"\bpagoda::(cuda::)?(\w+::)*", "", row["name"])
    name = re.sub(r"\(anonymous namespace\)::", "", name)
    if len(name) > 70:
        name = name[:67] + "..."
    return f"{name} [{row['grid_x']}x{row['grid_y']}x{row['grid_z']}/{row['block_x']}]"


def graph_launches(rows):
    """Split the graph kernels, in start order, into launches: a launch ends when the graph changes or a node repeats."""
    launches, cur, seen = [], [], set()
    for r in rows:
        key = (r["graph"], r["graph_node"])
        if cur and (r["graph"] != cur[-1]["graph"] or key in seen):
            launches.append(cur)
            cur, seen = [], set()
        cur.append(r)
        seen.add(key)
    if cur:
        launches.append(cur)
    return launches


def timeline(launch):
    """(duration, gap, exclusive) per kernel in start order, in microseconds."""
    out, covered = [], None
    for r in launch:
        s, e = r["start"], r["end"]
        if covered is None:
            out.append(((e - s) / 1e3, 0.0, (e - s) / 1e3))
            covered = e
            continue
        gap = max(0, s - covered)
        excl = max(0, e - max(covered, s))
        out.append(((e - s) / 1e3, gap / 1e3, excl / 1e3))
        covered = max(covered, e)
    return out


def period_of(labels):
    """The smallest layer period P that repeats over the middle half of the step."""
    n = len(labels)
    lo, hi = n // 4, 3 * n // 4
    for p in range(2, n // 3):
        if all(labels[i] == labels[i + p] for i in range(lo, hi - p)):
            return p
    return 0


def between(picked, outside):
    """What runs on the device between consecutive launches of the step's graph (sampling, copies) and how long
    the device has nothing to do there."""
    starts = [o["start"] for o in outside]
    pairs = [(max(r["end"] for r in p), q[0]["start"]) for p, q in zip(picked, picked[1:])]
    if not pairs:
        return
    typical = statistics.median(b - e for e, b in pairs)
    spans, items = [], {}
    for end, begin in pairs:
        if begin <= end or begin - end > 4 * typical:  # another step (a prefill) ran in between
            continue
        spans.append(begin - end)
        busy_to = end
        for o in outside[bisect.bisect_left(starts, end):bisect.bisect_left(starts, begin)]:
            name = o["name"] if not o["name"].startswith("memcpy") else f"{o['name']} ({o['grid_x']} B)"
            it = items.setdefault(name, [0, 0.0, 0.0])
            it[0] += 1
            it[1] += (o["end"] - o["start"]) / 1e3
            it[2] += (o["start"] - end) / 1e3
    if not spans:
        return
    n = len(spans)
    print(f"\nbetween launches: {statistics.fmean(spans) / 1e3:.1f} us on average over {n} with no other step (median "
          f"{statistics.median(spans) / 1e3:.1f}); what runs there (count a launch, mean us, mean start after the "
          f"previous launch's end):")
    for name, (c, d, off) in sorted(items.items(), key=lambda kv: kv[1][2] / kv[1][0]):
        print(f"  {name[:90]:<90} {c / n:>5.2f} {d / c:>8.2f} {off / c:>8.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--skip", type=int, default=3, help="launches to drop first (warm-up)")
    ap.add_argument("--graph-size", type=int, default=0, help="only launches of this many kernels (0: the most common)")
    a = ap.parse_args()
    rows, outside = [], []
    opener = gzip.open if a.trace.endswith(".gz") else open
    with opener(a.trace, "rt") as f:
        for r in csv.DictReader(f):
            for k in ("start", "end"):
                r[k] = int(r[k])
            (outside if r["graph"] in ("0", "") else rows).append(r)
    rows.sort(key=lambda r: r["start"])
    outside.sort(key=lambda r: r["start"])
    launches = graph_launches(rows)
    if not launches:
        print("no graph launches in the trace")
        return
    sizes = Counter((l[0]["graph"], len(l)) for l in launches)
    (graph, size), count = sizes.most_common(1)[0]
    if a.graph_size:
        matches = [k for k in sizes if k[1] == a.graph_size]
        graph, size = matches[0] if matches else (graph, size)
    picked = [l for l in launches if l[0]["graph"] == graph and len(l) == size][a.skip:]
    print(f"graph launches: {len(launches)}; using {len(picked)} of graph {graph} with {size} kernels each")
    if not picked:
        return
    labels = [label(r) for r in picked[0]]
    per = [timeline(l) for l in picked]
    spans = [max(r["end"] for r in l) - l[0]["start"] for l in picked]
    mean = lambda xs: statistics.fmean(xs)
    pos = [tuple(mean(p[i][j] for p in per) for j in range(3)) for i in range(size)]
    span = mean(spans) / 1e3
    gaps = sum(p[1] for p in pos)
    print(f"step: {span:.1f} us (median {statistics.median(spans) / 1e3:.1f}); idle gaps {gaps:.1f} us; "
          f"sum of durations {sum(p[0] for p in pos):.1f} us; exclusive + gaps {sum(p[1] + p[2] for p in pos):.1f} us")
    agg = OrderedDict()
    for lab, (d, g, x) in zip(labels, pos):
        c = agg.setdefault(lab, [0, 0.0, 0.0, 0.0])
        c[0] += 1
        c[1] += d
        c[2] += g
        c[3] += x
    print(f"\n{'kernel [grid/block]':<92} {'n':>4} {'dur us':>9} {'mean':>7} {'gap us':>8} {'excl us':>9} {'excl %':>7}")
    for lab, (n, d, g, x) in sorted(agg.items(), key=lambda kv: -kv[1][3] - kv[1][2]):
        print(f"{lab:<92} {n:>4} {d:>9.1f} {d / n:>7.2f} {g:>8.1f} {x:>9.1f} {100 * (x + g) / span:>6.1f}%")
    between(picked, outside)
    p = period_of(labels)
    if p:
        mid = (size // 2 // p) * p
        # align the printed layer to start at the period's first occurrence of the first label
        print(f"\none layer (period {p} kernels), positions {mid}..{mid + p - 1}:")
        print(f"{'kernel':<92} {'dur us':>8} {'gap us':>8} {'excl us':>8}")
        for i in range(mid, mid + p):
            d, g, x = pos[i]
            print(f"{labels[i]:<92} {d:>8.2f} {g:>8.2f} {x:>8.2f}")
        print(f"{'layer total':<92} {sum(pos[i][0] for i in range(mid, mid + p)):>8.2f} "
              f"{sum(pos[i][1] for i in range(mid, mid + p)):>8.2f} {sum(pos[i][2] for i in range(mid, mid + p)):>8.2f}")


if __name__ == "__main__":
    main()
