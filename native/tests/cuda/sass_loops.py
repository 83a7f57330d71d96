#!/usr/bin/env python3
"""SASS hot loops of kernels, counted on this machine (sass_here.sh makes the SASS text with cuobjdump).

For every function whose mangled name matches PATTERN, each loop (a backward branch and the instructions from its
target to it) with its instruction count by opcode; --show prints the loop bodies, --compare OLD.sass puts each
function's HMMA-carrying loops beside the same function's in OLD (instruction count, HMMA count).
Usage: sass_loops.py FILE.sass [PATTERN] [--show] [--compare OLD.sass]
"""
import argparse
import collections
import re


def functions(path):
    funcs, cur = {}, None
    for line in open(path):
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2)))
    return funcs


def opcode(text):
    return re.sub(r"^@!?U?P\w+\s+", "", text).split()[0].split(".")[0]


def loops(ins):
    """(target address, branch address, body) for each backward branch."""
    index = {a: i for i, (a, _) in enumerate(ins)}
    for i, (a, text) in enumerate(ins):
        m = re.search(r"\bBRA\b.*?0x([0-9a-f]+)", text)
        if m and int(m.group(1), 16) <= a and int(m.group(1), 16) in index:
            yield int(m.group(1), 16), a, ins[index[int(m.group(1), 16)]: i + 1]


def hmma_loops(ins):
    out = []
    for _, _, body in loops(ins):
        ops = collections.Counter(opcode(t) for _, t in body)
        if ops["HMMA"]:
            out.append((len(body), ops["HMMA"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sass")
    ap.add_argument("pattern", nargs="?", default=".")
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--compare")
    args = ap.parse_args()
    funcs = functions(args.sass)
    old = functions(args.compare) if args.compare else None
    for name, ins in funcs.items():
        if not re.search(args.pattern, name):
            continue
        if old is not None:
            print(f"{name[:110]}\n    HMMA loops (instructions, HMMA): {hmma_loops(old.get(name, []))} -> {hmma_loops(ins)}")
            continue
        print(f"== {name} ({len(ins)} instructions)")
        for start, end, body in loops(ins):
            ops = collections.Counter(opcode(t) for _, t in body)
            print(f"  loop {start:#x}..{end:#x}: {len(body)}:", " ".join(f"{k} {v}" for k, v in ops.most_common()))
            if args.show:
                for a, t in body:
                    print(f"    {a:05x}  {t}")


if __name__ == "__main__":
    main()
