"""What the PTX checks (ptx_pdl_check.py, ptx_rope_rounding_check.py, ptx_stage_load_check.py) share: nvcc -ptx on
a .cu, the .entry bodies of a PTX file, the self-test over hand-written PTX, and the command line of a check that
judges one .entry at a time. Imported from the scripts' own folder; runs with no GPU."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ENTRY = re.compile(r"^\.(?:visible\s+)?\.entry\s+([\w$]+)", re.M)


def compile_ptx(nvcc, includes, arch, path, out_dir, ndebug=True):
    """(PTX text, "") for a .ptx as it is or a .cu through nvcc -ptx; (None, nvcc's errors) when it fails."""
    if path.endswith(".ptx"):
        with open(path) as f:
            return f.read(), ""
    out = os.path.join(out_dir, os.path.basename(path) + ".ptx")
    cmd = [nvcc, "-ptx", "-O3", "-std=c++17", "-arch=" + arch, "-DPAGODA_HAVE_CUDA=1", "-o", out, path]
    if ndebug:
        cmd.append("-DNDEBUG")
    for inc in includes:
        cmd += ["-I", inc]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    with open(out) as f:
        text = f.read()
    os.remove(out)
    return text, ""


def entries(ptx):
    """(name, body) of every .entry, in file order."""
    starts = [(m.start(), m.group(1)) for m in ENTRY.finditer(ptx)]
    return [(name, ptx[s:starts[k + 1][0] if k + 1 < len(starts) else len(ptx)]) for k, (s, name) in enumerate(starts)]


def run_self_test(cases, check_entry):
    """cases: (name, should it be flagged, PTX); check_entry(name, body) -> the problems found. Exit status."""
    ok = True
    for name, want_flag, ptx in cases:
        flagged = bool(check_entry(name, ptx))
        good = flagged == want_flag
        ok &= good
        print("%s %s: flagged %s, want %s" % ("ok  " if good else "FAIL", name, flagged, want_flag))
    return 0 if ok else 1


def entry_check_main(check_entry, self_test_cases, clean_message, default_entry=None):
    """The command line of a check that judges each .entry alone: --self-test, or files (.cu through nvcc, .ptx as
    they are), each printed as ok with clean_message or FAIL with its first 20 problems. With default_entry, --entry
    PATTERN limits it to the entries whose name holds PATTERN, and a file with none of them fails. Exit 0: clean;
    1: a problem found; 2: a compile failed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvcc", default="nvcc")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--arch", default="sm_90a")
    if default_entry is not None:
        ap.add_argument("--entry", default=default_entry)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return run_self_test(self_test_cases, check_entry)
    if not a.files:
        ap.error("no files")
    pattern = getattr(a, "entry", None)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for f in a.files:
            ptx, err = compile_ptx(a.nvcc, a.include, a.arch, f, tmp)
            if ptx is None:
                sys.stderr.write(err)
                print("FAIL %s: nvcc -ptx failed" % f)
                return 2
            chosen = [(n, b) for n, b in entries(ptx) if pattern is None or pattern in n]
            bad = [p for n, b in chosen for p in check_entry(n, b)]
            base = os.path.basename(f)
            if not chosen and pattern is not None:
                failed = True
                print("FAIL %s: no entry named like %s" % (base, pattern))
            elif bad:
                failed = True
                for b in bad[:20]:
                    print("FAIL %s: %s" % (base, b))
                if len(bad) > 20:
                    print("FAIL %s: ... %d more" % (base, len(bad) - 20))
            else:
                print("ok   %s: %d entries, %s" % (base, len(chosen), clean_message))
    return 1 if failed else 0
