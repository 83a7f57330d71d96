#!/usr/bin/env python3
"""Fails when a PDL kernel may read an earlier kernel's output through the non-coherent path; runs with no GPU.

A kernel that calls griddepcontrol.wait (pdl_wait, pdl.cuh) reads what the kernel before it writes while that
kernel may still be running. const + __restrict__ lets the compiler turn such a read into ld.global.nc, which the
PTX memory model behind griddepcontrol.wait does not cover and which ptxas may schedule before the wait: the read
sees the old data (quant_gemm_lean through the engine, tiny-llama-gptq-int4 golden case 0, session 9).

The rule (checked on the PTX, so it holds for every instantiation, whatever the source looks like):
  in an .entry that holds griddepcontrol.wait, no ld.global.nc comes after the first wait, and none before it
  can run again after it (no branch after the wait goes back to a label before such a load).
Why this rule and not "no .nc on data another kernel writes": which pointer holds what is not in the PTX, so
that rule could only be reviewed, not checked. A load issued before the wait cannot rely on an earlier kernel's
output anyway (pdl.cuh's contract), so only constant data (weights, scales, block tables) may be there, and it
may stay .nc; every load after the wait is coherent, whatever it reads. In the source: no __restrict__ on a const
pointer that a PDL kernel (or a function it inlines) reads after pdl_wait(). Kernels with no wait are not
checked (launched plainly, they start after the previous kernel ends). Device functions left un-inlined (.func)
are flagged if they hold ld.global.nc and a PDL entry calls them.
Usage: ptx_pdl_check.py --self-test  (the rule on hand-written PTX: no nvcc needed; the CPU build's ctest)
       ptx_pdl_check.py [--nvcc NVCC] [--include DIR] [--arch sm_90a] [--jobs N] [--report-only] file.cu|file.ptx ...
  (.ptx files are checked as they are; .cu files are compiled with nvcc -ptx, N at a time, no device needed.)
Exit 0: none found (or --report-only); 1: some found; 2: a compile failed.
"""
import argparse
import concurrent.futures
import os
import re
import sys
import tempfile
import time

import ptx_checks

NC = re.compile(r"^\s*(?:@!?%p\d+\s+)?ld\.global\.nc\b", re.M)
WAIT = re.compile(r"^\s*griddepcontrol\.wait\b", re.M)
LABEL = re.compile(r"^(\$?[A-Za-z_][\w$]*):", re.M)
BRANCH = re.compile(r"^\s*(?:@!?%p\d+\s+)?bra(?:\.uni)?\s+(\$?[A-Za-z_][\w$]*)\s*;", re.M)
CALL = re.compile(r"\bcall(?:\.uni)?\s*(?:\([^)]*\)\s*,\s*)?([A-Za-z_$][\w$]*)", re.M)


def functions(ptx, kind):
    """(name, body) of each .entry (kind 'entry') or .func (kind 'func'): from its header to the next one."""
    heads = [(m.start(), m.group(1), m.group(2)) for m in
             re.finditer(r"^(?:\.(?:visible|weak|extern)\s+)*\.(entry|func)\s+(?:\([^)]*\)\s*)?(\S+?)\s*\(", ptx, re.M)]
    for i, (pos, k, name) in enumerate(heads):
        if k != kind:
            continue
        end = heads[i + 1][0] if i + 1 < len(heads) else len(ptx)
        yield name, ptx[pos:end]


def violations(body):
    """Number of ld.global.nc that may run after the first griddepcontrol.wait of this body (0 when it has none)."""
    wait = WAIT.search(body)
    if wait is None:
        return 0
    after = len(NC.findall(body, wait.end()))
    # A load before the wait runs after it again when a branch after the wait goes back above the load.
    back = {m.group(1) for m in BRANCH.finditer(body, wait.end())}
    labels = [(m.start(), m.group(1)) for m in LABEL.finditer(body, 0, wait.start()) if m.group(1) in back]
    if labels:
        first = min(pos for pos, _ in labels)
        after += len(NC.findall(body, first, wait.start()))
    return after


def check(ptx):
    """Entries that wait on the previous grid and may still load through ld.global.nc after it: [(name, count)]."""
    nc_funcs = {name for name, body in functions(ptx, "func") if NC.search(body)}
    bad = []
    for name, body in functions(ptx, "entry"):
        n = violations(body)
        wait = WAIT.search(body)
        if wait is not None and nc_funcs:
            n += sum(1 for m in CALL.finditer(body, wait.end()) if m.group(1) in nc_funcs)
        if n:
            bad.append((name, n))
    return bad


SELF_TEST = [
    # (what, ptx, entries flagged)
    ("no wait: not a PDL kernel", ".visible .entry a(\n){\n ld.global.nc.f32 %f1, [%rd1];\n}\n", []),
    ("weight prefetched before the wait", ".visible .entry a(\n){\n ld.global.nc.v4.u32 {%r1,%r2,%r3,%r4}, [%rd1];\n"
     " griddepcontrol.wait;\n ld.global.f32 %f1, [%rd2];\n}\n", []),
    ("nc after the wait", ".visible .entry a(\n){\n griddepcontrol.wait;\n @%p1 ld.global.nc.f32 %f1, [%rd2];\n}\n"
     ".visible .entry b(\n){\n griddepcontrol.wait;\n ld.global.f32 %f1, [%rd2];\n}\n", ["a"]),
    ("nc before the wait in a loop that goes around it", ".visible .entry a(\n){\n$L__BB0_1:\n"
     " ld.global.nc.f32 %f1, [%rd1];\n griddepcontrol.wait;\n @%p1 bra $L__BB0_1;\n}\n", ["a"]),
    ("nc in a .func called after the wait", ".func (.param .b32 r) f(\n){\n ld.global.nc.f32 %f1, [%rd1];\n}\n"
     ".visible .entry a(\n){\n griddepcontrol.wait;\n call.uni (retval0), f, (param0);\n}\n", ["a"]),
]


def self_test():
    failed = 0
    for what, ptx, want in SELF_TEST:
        got = [name for name, _ in check(ptx)]
        ok = got == want
        failed += not ok
        print("%s %s: flagged %s, want %s" % ("ok  " if ok else "FAIL", what, got, want))
    return 1 if failed else 0


def pdl_entries(ptx):
    return sum(1 for _, body in functions(ptx, "entry") if WAIT.search(body))


def to_ptx(a, f, tmp):
    """(file, ptx text or None, compiler errors)."""
    ptx, err = ptx_checks.compile_ptx(a.nvcc, a.include, a.arch, f, tmp, ndebug=False)
    return f, ptx, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvcc", default="nvcc")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.files:
        ap.error("no files")
    start = time.time()
    found = failed = 0
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
        # The largest files first: the run ends no later than its slowest compile must.
        files = sorted(a.files, key=lambda f: -os.path.getsize(f))
        for f, ptx, err in pool.map(lambda f: to_ptx(a, f, tmp), files):
            base = os.path.basename(f)
            if ptx is None:
                print("FAIL compile " + base + ":\n" + err)
                failed += 1
                continue
            bad = check(ptx)
            found += len(bad)
            for name, nc in bad:
                print("FAIL %s: %s may run %d ld.global.nc after griddepcontrol.wait" % (base, name, nc))
            if not bad:
                print("ok   %s: %d PDL kernels, no ld.global.nc after their wait" % (base, pdl_entries(ptx)))
    print("%d files in %.0f s" % (len(a.files), time.time() - start))
    if found:
        print("%d PDL kernels may read through ld.global.nc after the wait (drop __restrict__ on the const pointers "
              "they read after pdl_wait)" % found)
    if failed:
        return 2
    return 0 if a.report_only or not found else 1


if __name__ == "__main__":
    sys.exit(main())
