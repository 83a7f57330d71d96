#!/usr/bin/env python3
"""Fails when a PDL kernel may read through the non-coherent path (ld.global.nc); runs on a machine with no GPU.

A kernel that calls griddepcontrol.wait reads what the kernel before it writes while that kernel may still be
running. const + __restrict__ lets the compiler turn such a read into ld.global.nc, which the PTX memory model
behind griddepcontrol.wait does not cover and which ptxas may schedule before the wait: the read sees the old
data (quant_gemm_lean through the engine, tiny-llama-gptq-int4 golden case 0). This compiles each .cu to PTX
(nvcc -ptx, no device needed) and lists every .entry that holds griddepcontrol.wait and an ld.global.nc.
Usage: ptx_pdl_check.py --nvcc NVCC --include DIR [--arch sm_90a] [--report-only] file.cu [file.cu ...]
Exit 0: none found (or --report-only); 1: some found; 2: a compile failed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def entries(ptx):
    """(mangled name, body) of each .entry: from its header to the next .entry or the end."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\.(?:visible\s+)?\.entry\s+(\S+?)\(", ptx, re.M)]
    for i, (pos, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(ptx)
        yield name, ptx[pos:end]


def check(ptx):
    """Entries that wait on the previous grid and still load through ld.global.nc: [(name, count)]."""
    bad = []
    for name, body in entries(ptx):
        if "griddepcontrol.wait" not in body:
            continue
        nc = len(re.findall(r"^\s*(?:@!?%p\d+\s+)?ld\.global\.nc\b", body, re.M))
        if nc:
            bad.append((name, nc))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvcc", default="nvcc")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    found = 0
    with tempfile.TemporaryDirectory() as tmp:
        for f in a.files:
            out = os.path.join(tmp, os.path.basename(f) + ".ptx")
            cmd = [a.nvcc, "-std=c++17", "-O3", "-arch=" + a.arch, "-ptx", "-DPAGODA_HAVE_CUDA=1", f, "-o", out]
            cmd[1:1] = ["-I" + d for d in a.include]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print("FAIL compile " + f + ":\n" + r.stderr)
                return 2
            with open(out) as fh:
                ptx = fh.read()
            pdl = sum(1 for _, body in entries(ptx) if "griddepcontrol.wait" in body)
            bad = check(ptx)
            found += len(bad)
            for name, nc in bad:
                print("FAIL %s: %s waits on the previous grid and has %d ld.global.nc" % (os.path.basename(f), name, nc))
            if not bad:
                print("ok   %s: %d PDL kernels, no ld.global.nc in them" % (os.path.basename(f), pdl))
    if found:
        print("%d PDL kernels read through ld.global.nc (drop const + __restrict__ on what an earlier kernel writes)" % found)
    return 0 if a.report_only or not found else 1


if __name__ == "__main__":
    sys.exit(main())
