#!/usr/bin/env python3
"""Per-kernel times of a CUDA-graph step from kernel_trace.cpp's CSV: each graph launch is one step; for every
kernel it prints its duration, the idle gap before it and its exclusive time (how far it moves the step's end past
every kernel before it, so a kernel that overlaps its predecessor under PDL is charged only for what sticks out).
Exclusive times and gaps add up to the step. Usage: kernel_trace_summary.py trace.csv [--skip N] [--graph-size N]
[--graph ID,...] (each of those graphs in turn: the decode graph of each padded batch size in a --run trace)

--run: the whole measured run instead (a workload such as the ShareGPT-like 500, between the profiler marks
pagoda-bench writes; the whole trace where it has none), split into decode steps (graph launches and the
sampling and copies between them) and prefill-carrying steps (eager launches: a stretch of at least
--eager-kernels kernels between two graph launches), each with its time, idle time and kernels by exclusive time.
The split is graphs against eager launches: a decode step that runs eagerly (cascade attention, or more rows than
the largest decode graph) counts with the prefill-carrying ones. Each phase's idle time is also listed by what
follows it (a stretch's start, or the kernel the device waited for mid-step), and the decode graphs (one a
padded batch size) with their decode attention's time a step, and the prefill phase's GEMMs by the linear they run
(qkv, o_proj, gate_up, down, lm_head, told apart by the kernels around them) with their durations and the idle time
before them.
--self-test checks the run accounting on a made-up trace."""
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


def is_marker(r):
    return r["name"] in ("profiler-start", "profiler-stop")


def run_window(marks):
    """(first profiler-start, last profiler-stop after it) in ns, or None when the trace has no such pair."""
    starts = [m["start"] for m in marks if m["name"] == "profiler-start"]
    if not starts:
        return None
    stops = [m["start"] for m in marks if m["name"] == "profiler-stop" and m["start"] > min(starts)]
    return (min(starts), max(stops)) if stops else None


def run_phases(records, eager_kernels):
    """Every record of a run (time order) with its phase: "decode" for graph kernels and for the few eager
    launches between two graph launches (sampling, copies), "prefill" for a stretch of at least eager_kernels
    eager kernels between two graph launches (steps that carry prompt tokens run without graphs). Returns
    [(record, phase)] and the graph launches, counted by graph."""
    graph_rows = [r for r in records if r["graph"] not in ("0", "")]
    launches = graph_launches(graph_rows)
    launch_starts = [l[0]["start"] for l in launches]
    stretches = {}
    for r in records:
        if r["graph"] in ("0", ""):
            stretches.setdefault(bisect.bisect_right(launch_starts, r["start"]), []).append(r)
    prefill = set()
    for rs in stretches.values():
        if sum(1 for r in rs if not r["name"].startswith(("memcpy", "memset"))) >= eager_kernels:
            prefill.update(id(r) for r in rs)
    return [(r, "prefill" if id(r) in prefill else "decode") for r in records], Counter(l[0]["graph"] for l in launches)


def is_decode_attention(r):
    return "paged_attention_decode" in r["name"]


def run_accounting(phased):
    """Per phase: [time ns (exclusive + idle gaps), idle ns, sampler launches]; per (phase, kernel name):
    [count, duration ns, exclusive ns]; per decode graph: [time ns of its kernels (exclusive + gaps), decode
    attention exclusive ns (the kernel and its merge), the decode attention kernel's grid]. A record's idle gap
    (nothing running before it starts) goes to its phase."""
    phases, kernels, graphs, covered = {}, {}, {}, None
    idle_before, previous_phase = {}, None
    for r, phase in phased:
        s, e = r["start"], r["end"]
        gap = 0 if covered is None else max(0, s - covered)
        excl = e - s if covered is None else max(0, e - max(covered, s))
        covered = e if covered is None else max(covered, e)
        p = phases.setdefault(phase, [0, 0, 0])
        p[0] += gap + excl
        p[1] += gap
        p[2] += "sample" in r["name"]
        k = kernels.setdefault((phase, r["name"]), [0, 0, 0])
        k[0] += 1
        k[1] += e - s
        k[2] += excl
        # The idle time before each record, by what the record is, and whether it opens a stretch of its phase (a
        # step's start) or falls inside one (the host behind the device mid-step).
        where = r["name"] if previous_phase == phase else "(the phase's stretch begins)"
        idle_before[(phase, where)] = idle_before.get((phase, where), 0) + gap
        previous_phase = phase
        if phase == "decode" and r["graph"] not in ("0", ""):
            g = graphs.setdefault(r["graph"], [0, 0, ""])
            g[0] += gap + excl
            if is_decode_attention(r):
                g[1] += excl
                if "merge" not in r["name"]:
                    g[2] = f"{r['grid_x']}x{r['grid_y']}x{r['grid_z']}"
    return phases, kernels, graphs, idle_before


def is_gemm(r):
    n = r["name"]
    return n.startswith(("nvjet", "sm90_xmma", "cutlass")) or "gemm" in n.lower() and "reduce" not in n.lower()


def gemm_role(prev, nxt):
    """The linear a prefill-phase GEMM runs, from the kernel before it and the one after it: attention before it is
    o_proj; silu_mul or gate_up's GEMM before it is down; after a norm, RoPE / the KV write / a per-head norm / a bias
    next is qkv, silu_mul or another GEMM next is gate_up, anything else (sampling, a copy, the end) is lm_head."""
    p, n = (prev or "").lower(), (nxt or "").lower()
    if "attention" in p or "merge" in p:
        return "o_proj"
    if "silu" in p or p == "gate_up":
        return "down"
    if "norm" in p:
        if any(w in n for w in ("rope", "kv_write", "kv_cache", "rms_norm_heads", "bias")):
            return "qkv"
        if "silu" in n or n == "gemm":
            return "gate_up"
        return "lm_head"
    return "other"


def gemm_roles(phased):
    """Per linear of the prefill phase's GEMMs: [count, duration ns, idle ns before it, of which before a stretch's
    first GEMM of that linear]."""
    rows, covered = [], None
    for r, phase in phased:
        s, e = r["start"], r["end"]
        gap = 0 if covered is None else max(0, s - covered)
        covered = e if covered is None else max(covered, e)
        if phase == "prefill" and not r["name"].startswith(("memcpy", "memset")):
            rows.append((r, gap))
    roles, prev_role, seen = {}, None, set()
    for i, (r, gap) in enumerate(rows):
        if not is_gemm(r):
            prev_role = r["name"]
            if "sample" in r["name"].lower() or "argmax" in r["name"].lower():
                seen = set()  # the next step's stretch
            continue
        nxt = rows[i + 1][0] if i + 1 < len(rows) else None
        role = gemm_role(prev_role, "gemm" if nxt is not None and is_gemm(nxt) else nxt["name"] if nxt else None)
        c = roles.setdefault(role, [0, 0, 0, 0])
        c[0] += 1
        c[1] += r["end"] - r["start"]
        c[2] += gap
        if role not in seen:
            c[3] += gap
            seen.add(role)
        prev_role = role if role == "gate_up" else r["name"]
    return roles


def largest_gaps(phased, count):
    """The longest single stretches the device sat idle inside the prefill phase: (gap ns, ns since the first record,
    the record after it), longest first. A one-off (a kernel's first load) stands out from a per-step wait here."""
    gaps, covered, t0 = [], None, phased[0][0]["start"] if phased else 0
    for r, phase in phased:
        if covered is not None and phase == "prefill" and r["start"] > covered:
            gaps.append((r["start"] - covered, r["start"] - t0, r["name"]))
        covered = r["end"] if covered is None else max(covered, r["end"])
    return sorted(gaps, reverse=True)[:count]


def print_gemm_roles(roles):
    if not roles:
        return
    print("\nprefill: GEMMs by linear (duration as they ran; idle: the device waiting before them, of which before "
          "each step's first)")
    print(f"{'linear':<10} {'n':>7} {'dur ms':>9} {'mean us':>9} {'idle ms':>9} {'first ms':>9}")
    for role, (n, d, g, first) in sorted(roles.items(), key=lambda kv: -kv[1][1]):
        print(f"{role:<10} {n:>7} {d / 1e6:>9.2f} {d / n / 1e3:>9.2f} {g / 1e6:>9.2f} {first / 1e6:>9.2f}")


def print_graphs(graphs, launches):
    """The decode graphs (one a padded batch size) by their decode attention's share: where ShareGPT's decode
    steps spend their attention time, batch size by batch size."""
    print("\ndecode graphs (a padded batch size each), by step time")
    print(f"{'graph':>6} {'launches':>9} {'step us':>9} {'attention us':>13} {'attn %':>7} {'total ms':>9}  attention grid")
    for g, (t, attn, grid) in sorted(graphs.items(), key=lambda kv: -kv[1][0]):
        n = launches.get(g, 0)
        if not n:
            continue
        print(f"{g:>6} {n:>9} {t / n / 1e3:>9.1f} {attn / n / 1e3:>13.1f} {100 * attn / t if t else 0:>6.1f}% "
              f"{t / 1e6:>9.1f}  {grid}")


def print_run(rows, marks, eager_kernels, top):
    window = run_window(marks)
    records = sorted((r for r in rows if window is None or window[0] <= r["start"] < window[1]),
                     key=lambda r: r["start"])
    if not records:
        print("no records in the run")
        return
    phased, launches = run_phases(records, eager_kernels)
    phases, kernels, graphs, idle_before = run_accounting(phased)
    span = records[-1]["end"] - records[0]["start"] if window is None else window[1] - window[0]
    device_span = max(r["end"] for r in records) - records[0]["start"]
    print(f"run: {span / 1e6:.1f} ms ({'between the profiler marks' if window else 'the whole trace: no profiler marks'}),"
          f" {len(records)} records, {sum(launches.values())} graph launches; device time {device_span / 1e6:.1f} ms from the first record")
    print(f"\n{'phase':<10} {'time ms':>10} {'idle ms':>9} {'idle %':>7} {'sampler launches':>17}")
    for name in ("decode", "prefill"):
        if name in phases:
            t, idle, samples = phases[name]
            print(f"{name:<10} {t / 1e6:>10.1f} {idle / 1e6:>9.1f} {100 * idle / t if t else 0:>6.1f}% {samples:>17}")
    for name in ("decode", "prefill"):
        if name not in phases:
            continue
        t = phases[name][0]
        print(f"\n{name}: kernels by exclusive time (top {top})")
        print(f"{'kernel':<92} {'n':>7} {'dur ms':>9} {'excl ms':>9} {'excl %':>7}")
        rows_ = sorted(((k[1], v) for k, v in kernels.items() if k[0] == name), key=lambda kv: -kv[1][2])
        for label_, (n, d, x) in rows_[:top]:
            print(f"{label_[:92]:<92} {n:>7} {d / 1e6:>9.2f} {x / 1e6:>9.2f} {100 * x / t if t else 0:>6.1f}%")
        idle = sorted(((k[1], v) for k, v in idle_before.items() if k[0] == name and v > 0), key=lambda kv: -kv[1])
        if idle:
            print(f"\n{name}: idle time by what comes after it (top 8 of {phases[name][1] / 1e6:.1f} ms)")
            for label_, v in idle[:8]:
                print(f"{label_[:92]:<92} {v / 1e6:>9.2f} ms")
    print_gemm_roles(gemm_roles(phased))
    gaps = largest_gaps(phased, 12)
    if gaps:
        print("\nprefill: the longest idle stretches (us, ms into the run, what came after)")
        for g, at, name in gaps:
            print(f"{g / 1e3:>10.1f} {at / 1e6:>10.1f}  {name[:90]}")
    if graphs:
        print_graphs(graphs, launches)


def self_test():
    """The run accounting on a made-up trace: loading before the start mark, two eager prefill steps, then two
    graph launches with a sampler and a copy between them, and a kernel after the stop mark."""
    def rec(start, end, name, graph="0", node="0"):
        return {"start": start, "end": end, "name": name, "graph": graph, "graph_node": node}
    marks = [rec(100, 100, "profiler-start"), rec(10_000, 10_000, "profiler-stop")]
    rows = [rec(0, 90, "tune_gemm")]
    t = 100
    for step in range(2):  # 12 eager kernels and a sampler a step: 20 ns each, 5 ns apart
        for i in range(12):
            rows.append(rec(t, t + 20, f"gemm{i % 3}"))
            t += 25
        rows.append(rec(t, t + 20, "sample_rows_kernel"))
        t += 25
    for launch in range(2):  # graph 7, three nodes, the second overlapping the first by 5 ns (PDL)
        rows += [rec(t, t + 100, "layer_a", "7", "1"), rec(t + 95, t + 200, "layer_b", "7", "2"),
                 rec(t + 200, t + 260, "lm_head", "7", "3")]
        t += 260
        rows += [rec(t + 10, t + 30, "sample_rows_kernel"), rec(t + 40, t + 44, "memcpy-1-2")]
        t += 50
    rows.append(rec(20_000, 20_100, "after_the_run"))
    window = run_window(marks)
    assert window == (100, 10_000), window
    records = sorted((r for r in rows if window[0] <= r["start"] < window[1]), key=lambda r: r["start"])
    phased, launches = run_phases(records, eager_kernels=12)
    assert launches == {"7": 2}, launches
    phases, kernels, graphs, idle_before = run_accounting(phased)
    # prefill: 26 records of 20 ns, gaps of 5 ns between them (the first record has none): 26 * 20 + 25 * 5
    assert phases["prefill"] == [26 * 20 + 25 * 5, 25 * 5, 2], phases["prefill"]
    # decode: per launch 260 ns of kernels (the overlap counted once), the gap before it (5 ns after the last
    # sampler, 6 after the copy), the sampler's 10 ns gap + 20 and the copy's 10 ns gap + 4
    assert phases["decode"] == [5 + 6 + 2 * (260 + 30 + 14), 5 + 6 + 2 * (10 + 10), 2], phases["decode"]
    assert kernels[("decode", "layer_b")] == [2, 210, 200], kernels[("decode", "layer_b")]
    assert kernels[("prefill", "gemm0")] == [8, 160, 160], kernels[("prefill", "gemm0")]
    assert ("decode", "after_the_run") not in kernels and ("prefill", "tune_gemm") not in kernels
    # graph 7: its kernels' time (the first launch's 5 ns gap after the prefill's last sampler, the second's 6 after
    # the copy), no decode attention in it
    assert graphs == {"7": [5 + 6 + 2 * 260, 0, ""]}, graphs
    # the idle time by what follows it: the prefill stretch's 5 ns gaps before each kernel inside it (the first
    # gemm0 opens the run), decode's stretch opening after the prefill (5 ns), the second launch 6 ns after the copy,
    # the samplers' 10 ns each
    assert idle_before[("prefill", "gemm0")] == 7 * 5 and idle_before[("prefill", "sample_rows_kernel")] == 2 * 5
    assert idle_before[("decode", "(the phase's stretch begins)")] == 5, idle_before
    assert idle_before[("decode", "layer_a")] == 6 and idle_before[("decode", "sample_rows_kernel")] == 2 * 10
    # a graph holding the decode attention kernel and its merge: their exclusive time and the kernel's grid
    att = [rec(0, 50, "gemm", "3", "1"), rec(50, 80, "paged_attention_decode_kernel<128, 8, false, false>", "3", "2"),
           rec(80, 90, "paged_attention_decode_merge_kernel<128>", "3", "3")]
    for r, grid in zip(att, ("4x1x1", "16x8x2", "16x32x1")):
        r["grid_x"], r["grid_y"], r["grid_z"] = grid.split("x")
    _, _, graphs, _ = run_accounting([(r, "decode") for r in att])
    assert graphs == {"3": [90, 40, "16x8x2"]}, graphs
    # without marks the whole trace counts, and a stretch below the eager threshold stays with decode
    phased, _ = run_phases(sorted(rows, key=lambda r: r["start"]), eager_kernels=100)
    assert all(p == "decode" for _, p in phased)
    # the prefill GEMMs by linear: two layers of norm, qkv, RoPE + KV write, attention, o_proj, norm, gate_up,
    # silu_mul, down, then the last norm, lm_head and the sampler; 10 ns kernels 5 ns apart, but 50 ns idle before
    # the first qkv (the host still planning it)
    layer = ["add_rms_norm_kernel", "nvjet_qkv", "rope_neox_kv_write_kernel", "paged_attention_prefill_kernel",
             "nvjet_o", "add_rms_norm_kernel", "nvjet_gu", "silu_mul_kernel", "nvjet_down"]
    names, t, step = layer * 2 + ["rms_norm_kernel", "nvjet_lm", "sample_rows_kernel"], 0, []
    for i, n in enumerate(names):
        t += 50 if i == 1 else 5
        step.append(rec(t, t + 10, n))
        t += 10
    roles = gemm_roles([(r, "prefill") for r in step])
    assert roles["qkv"] == [2, 20, 55, 50], roles
    assert roles["o_proj"] == [2, 20, 10, 5] and roles["gate_up"] == [2, 20, 10, 5], roles
    assert roles["down"] == [2, 20, 10, 5] and roles["lm_head"] == [1, 10, 5, 5], roles
    # gate_up with SiLU in its epilogue: down follows the GEMM directly
    fused = [rec(0, 10, "add_rms_norm_kernel"), rec(10, 20, "nvjet_gu"), rec(20, 30, "nvjet_down"),
             rec(30, 40, "add_rms_norm_kernel")]
    roles = gemm_roles([(r, "prefill") for r in fused])
    assert set(roles) == {"gate_up", "down"}, roles
    gaps = largest_gaps([(r, "prefill") for r in step], 2)
    assert gaps[0] == (50, step[1]["start"] - step[0]["start"], "nvjet_qkv") and gaps[1][0] == 5, gaps
    print("kernel_trace_summary self-test: passed")


def print_graph(launches, outside, graph, size, skip):
    """One graph's launches of one size: the step, each kernel by label, what runs between launches, one layer."""
    picked = [l for l in launches if l[0]["graph"] == graph and len(l) == size][skip:]
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



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace", nargs="?")
    ap.add_argument("--run", action="store_true", help="the whole measured run by phase (see above)")
    ap.add_argument("--eager-kernels", type=int, default=12,
                    help="--run: eager kernels between two graph launches that make a prefill-carrying stretch")
    ap.add_argument("--top", type=int, default=25, help="--run: kernels listed a phase")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--skip", type=int, default=3, help="launches to drop first (warm-up)")
    ap.add_argument("--graph-size", type=int, default=0, help="only launches of this many kernels (0: the most common)")
    ap.add_argument("--graph", default="", help="these graphs (ids as --run's decode graph table names them, "
                    "comma-separated), each at its most common size, instead")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return
    if not a.trace:
        ap.error("a trace is needed")
    rows, outside, marks = [], [], []
    opener = gzip.open if a.trace.endswith(".gz") else open
    with opener(a.trace, "rt") as f:
        for r in csv.DictReader(f):
            for k in ("start", "end"):
                r[k] = int(r[k])
            if is_marker(r):
                marks.append(r)
            else:
                (outside if r["graph"] in ("0", "") else rows).append(r)
    if a.run:
        print_run(rows + outside, marks, a.eager_kernels, a.top)
        return
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
    if a.graph:
        for g in a.graph.split(","):
            sized = [k for k, _ in sizes.most_common() if k[0] == g]
            if not sized:
                print(f"\ngraph {g}: not in the trace")
                continue
            print()
            print_graph(launches, outside, g, sized[0][1], a.skip)
        return
    print_graph(launches, outside, graph, size, a.skip)

if __name__ == "__main__":
    main()
