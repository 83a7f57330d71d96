#!/usr/bin/env python3
# What ShareGPT's steps with prompt tokens would spend in each prompt-step GEMM if each ran as it does alone:
# replays the engine's scheduler (scheduler.cpp: running first, then FCFS admission within max_num_seqs and the
# token budget, chunked prefill) over the workload's first 500 pairs to get every step's m, then sums each GEMM's
# isolated time at that m over 32 layers, interpolated from `cuda_kernel_bench search` logs (the heuristic's first
# choice, what the engine runs untuned; --best: the best of its first eight). Compare with the GEMMs by linear of a
# traced run (kernel_trace_summary.py --run), not an op table: the op timer's events cost time in the op after them
# (NOTES "Session 33": qkv 334 ms traced against 333 estimated, 469 in the op table).
# Usage: sharegpt_gemm_estimate.py WORKLOAD.json SEARCH.txt [SEARCH.txt ...] [--best] [--gemm-tflops 821]
import argparse
import bisect
import json
import re

SHAPES = {"qkv": (6144, 4096), "o_proj": (4096, 4096), "gate_up": (28672, 4096), "down": (4096, 14336)}


def step_sizes(pairs, max_seqs=256, budget=2048):
    """Each step with prompt tokens as (decode rows, prompt tokens), and the number of steps."""
    waiting = [{"prompt": p, "output": o, "done": 0, "out": 0} for p, o in pairs]
    running, steps, mixed = [], 0, []
    while waiting or running:
        left, decode, prompt = budget, 0, 0
        for s in running:
            rest = s["prompt"] - s["done"]
            s["chunk"] = min(rest, left) if rest > 0 else 1
            left -= s["chunk"]
            decode += rest <= 0
            prompt += s["chunk"] if rest > 0 else 0
        while waiting and left > 0 and len(running) < max_seqs:
            s = waiting.pop(0)
            s["chunk"] = min(s["prompt"], left)
            left -= s["chunk"]
            prompt += s["chunk"]
            running.append(s)
        for s in list(running):
            if s["done"] < s["prompt"]:
                s["done"] += s["chunk"]
                s["out"] += s["done"] >= s["prompt"]
            else:
                s["out"] += 1
            if s["out"] >= s["output"]:
                running.remove(s)
        steps += 1
        if prompt:
            mixed.append((decode, prompt))
    return mixed, steps


def search_points(paths, best):
    """{shape: [(m, ms)]} from the search logs: the row naming "heuristic #0" (the heuristic's first choice, what
    the engine runs untuned), or with best the fastest row naming one of the heuristic's first eight (what tune()
    picks). Reads the ranked rows, not the "first" / "tune-8" labels (session 32's first log has those wrong)."""
    row = re.compile(r"^search (\S+)\s+m\s+(\d+) \S+\s+([\d.]+) ms .* heuristic #(\d+):")
    points = {}
    for path in paths:
        for line in open(path):
            hit = row.match(line)
            if not hit or int(hit.group(4)) >= (8 if best else 1):
                continue
            shape, m, t = hit.group(1), int(hit.group(2)), float(hit.group(3))
            known = points.setdefault(shape, {})
            known[m] = min(known.get(m, t), t)
    return {shape: sorted(p.items()) for shape, p in points.items()}


def at(points, m):
    xs = [x for x, _ in points]
    if m <= xs[0]:
        return points[0][1] * m / xs[0]
    if m >= xs[-1]:
        return points[-1][1] * m / xs[-1]
    i = bisect.bisect_left(xs, m)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (m - x0) / (x1 - x0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("search", nargs="+")
    ap.add_argument("--best", action="store_true")
    ap.add_argument("--gemm-tflops", type=float, default=821.0)
    a = ap.parse_args()
    pairs = json.load(open(a.workload))["pairs_input_output"][:500]
    mixed, steps = step_sizes(pairs)
    ms = [d + p for d, p in mixed]
    print(f"{steps} steps, {len(mixed)} with prompt tokens, mean m {sum(ms) / len(ms):.0f}")
    points = search_points(a.search, a.best)
    for shape, (n, k) in SHAPES.items():
        if shape not in points:
            continue
        total = 32 * sum(at(points[shape], m) for m in ms)
        ideal = 32 * sum(2.0 * m * n * k for m in ms) / (a.gemm_tflops * 1e9)
        print(f"{shape:8s} {total:7.0f} ms from isolated timings; its FLOPs at {a.gemm_tflops:.0f} TFLOP/s {ideal:6.0f} ms")


if __name__ == "__main__":
    main()
