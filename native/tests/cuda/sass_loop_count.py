#!/usr/bin/env python3
"""SASS instructions of a kernel's hot loop, per 64-wide weight chunk and lane (ptx_loop_count.py's twin for
`cuobjdump -sass` output, which only the device machine has).

For each function whose mangled name holds every fragment: the smallest loop (a backward BRA to an address or
label) holding HMMA instructions, counted by opcode (the text before the first dot); a chunk is --mma-a-chunk
HMMAs (4; 8 for quant_gemm_lean's int4 fold). Also the whole function's instruction count.
Usage: sass_loop_count.py [--mma-a-chunk N] file.sass fragment [fragment ...]
       sass_loop_count.py --self-test
"""
import re
import sys

INS = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
LABEL = re.compile(r"^\s*(\.L_x_\d+):")


def functions(text):
    parts = re.split(r"\n\s*Function : ", "\n" + text)
    for p in parts[1:]:
        lines = p.split("\n")
        yield lines[0].strip(), lines[1:]


def parse(lines):
    """[(address, opcode text)] and {label: address of the next instruction}."""
    ins, labels, pending = [], {}, []
    for l in lines:
        m = LABEL.match(l)
        if m:
            pending.append(m.group(1))
            continue
        m = INS.match(l)
        if m:
            addr = int(m.group(1), 16)
            for p in pending:
                labels[p] = addr
            pending = []
            ins.append((addr, m.group(2)))
    return ins, labels


def opcode(text):
    body = re.sub(r"^@!?U?P[T\d]+\s+", "", text)
    return body.split()[0].split(".")[0] if body else ""


def hot_loop(ins, labels):
    best = None
    for i, (addr, text) in enumerate(ins):
        if opcode(text) != "BRA":
            continue
        m = re.search(r"0x([0-9a-f]+)", text)
        target = int(m.group(1), 16) if m else None
        if target is None:
            m = re.search(r"(\.L_x_\d+)", text)
            target = labels.get(m.group(1)) if m else None
        if target is None or target > addr:
            continue
        span = [t for a, t in ins if target <= a <= addr]
        if any(opcode(t) == "HMMA" for t in span) and (best is None or len(span) < len(best)):
            best = span
    return best


def report(text, frags, per_chunk, out=print):
    for name, lines in functions(text):
        if not all(f in name for f in frags):
            continue
        ins, labels = parse(lines)
        loop = hot_loop(ins, labels)
        if loop is None:
            out("%s: no HMMA loop (%d instructions)" % (name, len(ins)))
            continue
        counts = {}
        for t in loop:
            op = opcode(t)
            counts[op] = counts.get(op, 0) + 1
        chunks = counts.get("HMMA", 0) / per_chunk
        out(name)
        out("  loop: %d instructions, %.1f chunks -> %.1f a chunk a lane, %.2f a weight (function: %d)" %
            (len(loop), chunks, len(loop) / chunks, len(loop) / chunks / 32, len(ins)))
        out("  per chunk: " + ", ".join("%s %.1f" % (k, v / chunks) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))


def self_test():
    sass = """
        Function : _Z6kernelILb1EEvv
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_1:
        /*0010*/                   LOP3.LUT R2, R3, 0xf000f, RZ, 0xc0, !PT ;
        /*0020*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;
        /*0030*/                   HMMA.16816.F32.BF16 R16, R20, R12, R16 ;
        /*0040*/              @P0  BRA `(.L_x_1) ;
        /*0050*/                   EXIT ;
"""
    lines = []
    report(sass, ["ILb1E"], 2, lines.append)
    assert "4 instructions, 1.0 chunks" in lines[1], lines
    assert "HMMA 2.0" in lines[2] and "LOP3 1.0" in lines[2], lines
    sass2 = sass.replace("`(.L_x_1)", "0x10")
    lines = []
    report(sass2, ["ILb1E"], 2, lines.append)
    assert "4 instructions" in lines[1], lines
    print("sass_loop_count self-test: 2 passed, 0 failed")


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        return self_test()
    per_chunk = 4
    if args and args[0] == "--mma-a-chunk":
        per_chunk = int(args[1])
        args = args[2:]
    report(open(args[0]).read(), args[1:], per_chunk)


if __name__ == "__main__":
    main()
