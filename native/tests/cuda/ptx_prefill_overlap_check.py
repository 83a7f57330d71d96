#!/usr/bin/env python3
"""Fails when pingpong-overlap's exponentials are not where the overlap needs them; runs with no GPU.

The in-warpgroup overlap of attention_prefill_wgmma.cu (Consumer::kPingpongOverlap, PAGODA_PREFILL_OVERLAP=1)
only pays when a tile's exponentials run while the warpgroup's own P V of the tile before is still on the tensor
cores: after `wgmma.wait_group 1` (S is in) and before the next `wgmma.wait_group 0` (P V done). Nothing in C++
stops the compiler from sinking that arithmetic past the second wait (it would still be right, and no faster), so
this reads the PTX: every pingpong-overlap kernel (mangled `ConsumerE3`) must hold at least a tile's ex2
(keys_per_tile / 2 a thread: 64) in such a window, and, as the control that the window is read right, the plain
pingpong kernels (`ConsumerE2`, one wait for both groups) none. ptxas keeps the order in the SASS that
fa3_on_device.sh reads (MUFU.EX2 under WARPGROUP.DEPBAR.LE gsb0, 0x1).
Usage: ptx_prefill_overlap_check.py [--nvcc NVCC] [--include DIR] attention_prefill_wgmma.cu|.ptx
Exit 0: as described; 1: not; 2: the compile failed or no kernel of either kind was found.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ENTRY = re.compile(r"^\.(?:visible\s+)?\.entry\s+([\w$]+)", re.M)


def windowed_ex2(body):
    """ex2 instructions between a wgmma.wait_group 1 and the next wgmma.wait_group 0, in text order."""
    inside, count = False, 0
    for line in body.split("\n"):
        if "wgmma.wait_group.sync.aligned 1" in line:
            inside = True
        elif "wgmma.wait_group.sync.aligned 0" in line:
            inside = False
        elif inside and "ex2.approx" in line:
            count += 1
    return count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvcc", default="nvcc")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.file.endswith(".ptx"):
            ptx = open(a.file).read()
        else:
            out = os.path.join(tmp, "k.ptx")
            cmd = [a.nvcc, "-ptx", "-O3", "-std=c++17", "-gencode=arch=compute_90a,code=compute_90a",
                   "-DPAGODA_CUDA_SM90A=1", "-o", out, a.file] + sum((["-I", i] for i in a.include), [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                print("FAIL nvcc -ptx failed")
                return 2
            ptx = open(out).read()
    starts = [(m.start(), m.group(1)) for m in ENTRY.finditer(ptx)]
    ok, seen = True, {"E3": 0, "E2": 0}
    for k, (s, name) in enumerate(starts):
        kind = re.search(r"ConsumerE(\d)", name)
        if not kind or kind.group(1) not in ("2", "3"):
            continue
        body = ptx[s:starts[k + 1][0] if k + 1 < len(starts) else len(ptx)]
        n = windowed_ex2(body)
        overlap = kind.group(1) == "3"
        seen["E" + kind.group(1)] += 1
        good = n >= 64 if overlap else n == 0
        ok &= good
        short = re.sub(r"_GLOBAL__N__\w+?_cu_\w{8}", "", name)[:110]
        print("%s %s %s: %d ex2 between wait_group 1 and 0 (want %s)" %
              ("ok  " if good else "FAIL", "pingpong-overlap" if overlap else "pingpong", short, n,
               ">= 64" if overlap else "0"))
    if seen["E3"] == 0 or seen["E2"] == 0:
        print("FAIL no pingpong-overlap or no pingpong kernel in the PTX (%s)" % seen)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
