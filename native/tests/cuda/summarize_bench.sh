#!/bin/bash
# One table of issue 4's figures from the pagoda-bench JSON files in a folder (as written by
# bench_on_device.sh and bench_random_on_device.sh): decode beside the floor, throughput,
# roofline ratio, GPU idle %, prefix caching on / off, peak memory beside the setting.
# Usage: native/tests/cuda/summarize_bench.sh <folder>
set -u
exec python3 - "${1:?usage: summarize_bench.sh <folder of pagoda-bench JSON>}" <<'PY'
import glob, json, os, sys

def pct(v):
    return "n/a" if v is None else f"{v:.2f}%"

def phase_line(p):
    roof = p.get("fraction_of_roofline")
    return (f"{p['steps']:.0f} steps, {p['ms_per_step']:.2f} ms/step, GPU idle {pct(p.get('device_idle_pct'))}, "
            f"host {p['host_overhead_pct']:.2f}%" + ("" if roof is None else f", {100 * roof:.1f}% of roofline"))

files = sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))
if not files:
    sys.exit(f"no pagoda-bench JSON in {sys.argv[1]}")
for path in files:
    try:
        r = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f"{os.path.basename(path)}: unreadable ({e})")
        continue
    if r.get("tool") != "pagoda-bench":
        continue
    f = r["figures"]
    mode = f.get("mode")
    print(f"## {os.path.basename(path)}  [{r['device']}, {r['git_commit']}, {r['date']}]")
    if mode == "synthetic":
        bound = f.get("decode_bound_steps_per_s")
        floor = f" = {f['tpot_ms'] * bound / 1e3:.3f}x the {1e3 / bound:.3f} ms floor" if bound else ""
        print(f"  batch {f['batch_size']:.0f} decode: {f['tpot_ms']:.3f} ms/token{floor}")
    elif mode in ("dataset", "random"):
        print(f"  {f['num_requests']:.0f} requests: {f['request_throughput_per_s']:.2f} req/s, "
              f"{f['output_tokens_per_s']:.1f} output tok/s, {f['elapsed_s']:.1f} s, {f.get('preemptions', 0):.0f} preemptions")
    elif mode == "prefix":
        on, off = f["caching_on"], f["caching_off"]
        print(f"  prefix caching on {on['output_tokens_per_s']:.1f} vs off {off['output_tokens_per_s']:.1f} output tok/s "
              f"= {f['speedup_output_tokens_per_s']:.2f}x; req/s {on['request_throughput_per_s']:.2f} vs "
              f"{off['request_throughput_per_s']:.2f}; hit rate {100 * on['prefix_cache_hit_rate']:.1f}%")
    for name, phases in f.get("step_time", {}).items():
        for phase in ("all_steps", "decode_steps"):
            p = phases.get(phase)
            if p and p["steps"] > 0:
                print(f"  {name} {phase}: {phase_line(p)}")
        buckets = phases.get("decode_by_batch", [])
        if len(buckets) > 1:
            cells = []
            for b in buckets:
                dev = b.get("device_ms_per_step")
                cells.append(f"<={b['batch_max']}: {b['steps']:.0f} x {b['ms_per_step']:.2f} ms"
                             + ("" if dev is None else f" (GPU {dev:.2f})"))
            print(f"  {name} decode steps by batch: " + "; ".join(cells))
    for m in f.get("device_memory", []):
        if m.get("peak_used_bytes") is None:
            continue
        print(f"  memory at {m['gpu_memory_utilization']}: peak {m['peak_used_bytes'] / 2**30:.2f} GiB of "
              f"{m['total_bytes'] / 2**30:.2f} GiB, allowed {m['allowed_bytes'] / 2**30:.2f} GiB, "
              f"peak / allowed {m['peak_over_allowed']:.4f}")
PY
