#!/usr/bin/env python3
"""PTX instructions of a kernel's hot loop, per 64-wide weight chunk and lane (sass_here.sh + sass_loops.py count the SASS).

Finds the kernel entries whose mangled name contains every given fragment, takes the smallest loop
(a label and a later branch back to it) that holds mma instructions, and counts its instructions by
class; a chunk is 4 mma (one n8 tile: 16 rows x 64 k, 32 weights a lane). PTX is before ptxas, which
drops moves but does not fuse an and / or pair with two immediates into one LOP3 (session 19's SASS), so read the
counts beside sass_loops.py's.
Usage: ptx_loop_count.py file.ptx fragment [fragment ...]
"""
import re
import sys

CLASSES = [
    ("mma", r"^mma\."),
    ("ld.global", r"^ld\.global"),
    ("ld other", r"^ld\."),
    ("shift", r"^(shl|shr|shf)\."),
    ("logic", r"^(and|or|xor|not|lop3|prmt)\."),
    ("bf16x2", r"^(sub|add|mul|fma)(\.rn)?\.bf16x2"),
    ("f32 math", r"^(fma|mul|add|sub)(\.rn)?\.f32"),
    ("int math", r"^(add|sub|mul|mad|neg)(\.lo|\.wide|\.hi)?\.(s|u|b)(32|64)"),
    ("cvt", r"^cvt"),
    ("mov", r"^mov\."),
    ("selp", r"^selp\."),
    ("setp", r"^setp\."),
    ("bra", r"^(@%p\d+ )?bra"),
]


def classify(ins):
    body = re.sub(r"^@!?%p\d+\s+", "", ins)
    for name, pat in CLASSES:
        if re.match(pat, body):
            return name
    return "other"


def functions(text):
    for m in re.finditer(r"\.entry\s+(\S+)\s*\((.*?)\n\}", text, re.S):
        yield m.group(1), m.group(0)


def loop_counts(body):
    lines = [l.strip() for l in body.split("\n")]
    labels = {l[:-1]: i for i, l in enumerate(lines) if re.match(r"^\$L\w+:$", l)}
    best = None
    for i, l in enumerate(lines):
        m = re.search(r"bra(\.uni)?\s+(\$L\w+);", l)
        if not m or m.group(2) not in labels or labels[m.group(2)] > i:
            continue
        span = lines[labels[m.group(2)]:i + 1]
        # inline asm comes wrapped as "{ op ...; }"
        span = [re.sub(r"^\{\s*(.*?);\s*\}$", r"\1;", s) for s in span]
        ins = [s for s in span if s and not s.startswith(("$L", "//", "{", "}", ".")) and s.endswith(";")]
        mma = sum(1 for s in ins if classify(s) == "mma")
        if mma and (best is None or len(ins) < len(best)):
            best = ins
    return best


def main():
    text = open(sys.argv[1]).read()
    frags = sys.argv[2:]
    for name, body in functions(text):
        if not all(f in name for f in frags):
            continue
        ins = loop_counts(body)
        if ins is None:
            print(name, "no mma loop")
            continue
        counts = {}
        for s in ins:
            c = classify(s)
            counts[c] = counts.get(c, 0) + 1
        chunks = counts.get("mma", 0) / 4
        print(name)
        print("  loop: %d instructions, %d chunks -> %.1f a chunk a lane, %.2f a weight" %
              (len(ins), chunks, len(ins) / chunks, len(ins) / chunks / 32))
        print("  per chunk: " + ", ".join("%s %.1f" % (c, counts[c] / chunks) for c, _ in CLASSES + [("other", "")]
                                          if c in counts))
        others = sorted({re.sub(r"^@!?%p\d+\s+", "", s).split()[0] for s in ins if classify(s) == "other"})
        if others:
            print("  other: " + " ".join(others))


if __name__ == "__main__":
    main()
