#!/usr/bin/env python3
"""Fails when a RoPE rotation in the PTX leaves its rounding to ptxas; runs with no GPU.

rope_neox_kernel (rope.cu) rounds q and k through rope_neox.cuh, which spells every rounding out (mul.rn / fma.rn,
never contracted), so its bf16 bits do not depend on how ptxas contracts the rotation. A plain `x1 * c - x2 * s`
reaches the PTX as mul.f32 / sub.f32 (or add.f32) without a rounding modifier, which ptxas may contract into an fma
taking either product: session 10 found that when a second copy of the rotation (the fused RoPE decode kernel,
removed in session 12) had to match rope.cu bit for bit and 18 of 262,144 batch-64 outputs were a bit apart. The
H200 ran the default path (elementwise_kernels_test, every golden) with these roundings; this check keeps them.

The rule: in every .entry, walk back from each cvt.rn.bf16.f32 / cvt.rn.bf16x2.f32 operand through the defining
instructions (the nearest earlier definition of the register, a few steps deep); if the walk reaches a bf16 input
(cvt.f32.bf16) and no ex2 (the softmax's P, which is not a rotation), every float multiply / add / subtract on the
way must carry .rn. Usage: ptx_rope_rounding_check.py --self-test (hand-written PTX, no nvcc) | [--nvcc NVCC] [--include DIR] [--arch sm_90a] file.cu|.ptx ...
Exit 0: clean; 1: an unrounded rotation found; 2: a compile failed.
"""
import re
import sys

import ptx_checks

INSN = re.compile(r"^\s*(?:@!?%p\d+\s+)?([a-z][\w.]*)\s+(.*?);", re.M)
ASM_CVT = re.compile(r"\{\s*(cvt\.[\w.]+)\s+(.*?);\s*\}")
REG = re.compile(r"%[a-z]+\d+")
FLOAT_ARITH = re.compile(r"^(mul|add|sub|fma|mad)\.(?:f32|ftz\.f32|sat\.f32)$")
DEPTH = 6


def instructions(body):
    """(opcode, dst, srcs) in text order, inline-asm cvts included."""
    out = []
    for line in body.split("\n"):
        m = ASM_CVT.search(line) or INSN.match(line)
        if not m:
            continue
        op, rest = m.group(1), m.group(2)
        regs = REG.findall(rest)
        if not regs or op.startswith(("st.", "bra", "bar", "setp", "@")):
            out.append((op, None, regs))
        else:
            out.append((op, regs[0], regs[1:]))
    return out


def check_entry(name, body):
    insns = instructions(body)
    bad = []
    for idx, (op, dst, srcs) in enumerate(insns):
        if not op.startswith("cvt.rn.bf16"):
            continue
        # Walk back: (register, position to search before, depth).
        stack = [(r, idx, 0) for r in srcs if r.startswith("%f")]
        seen, path_ops, bf16_input, softmax = set(), [], False, False
        while stack:
            reg, pos, depth = stack.pop()
            if (reg, pos) in seen or depth > DEPTH:
                continue
            seen.add((reg, pos))
            for j in range(pos - 1, -1, -1):
                jop, jdst, jsrcs = insns[j]
                if jdst != reg:
                    continue
                if jop.startswith("cvt.f32.bf16"):
                    bf16_input = True
                elif jop.startswith("ex2"):
                    softmax = True
                elif FLOAT_ARITH.match(jop) or jop.startswith(("mul.rn", "add.rn", "sub.rn", "fma.rn", "neg.f32")):
                    path_ops.append((j, jop))
                    stack.extend((r, j, depth + 1) for r in jsrcs if r.startswith("%f"))
                break
        if bf16_input and not softmax:
            for j, jop in path_ops:
                if FLOAT_ARITH.match(jop):
                    bad.append("%s: %s feeds the bf16 rounding at PTX instruction %d without .rn" % (name, jop, idx))
    return sorted(set(bad))


# Hand-written PTX: session 10's q staging (products shared by both branches, add.f32 unrounded), the
# same rotation with its roundings spelled out, and the softmax's P (ex2, left alone).
SELF_TEST = [
    ("unrounded", True, """.visible .entry unrounded(
{
	cvt.f32.bf16 %f1, %rs1;
	cvt.f32.bf16 %f2, %rs2;
	mul.f32 \t%f15, %f1, %f3;
	mul.f32 \t%f16, %f2, %f4;
	add.f32 \t%f308, %f15, %f16;
	mul.f32 \t%f310, %f5, %f7;
	fma.rn.f32 \t%f309, %f6, %f8, %f310;
	{ cvt.rn.bf16x2.f32 %r1561, %f309, %f308;}
	ret;
}
"""),
    ("rounded", False, """.visible .entry rounded(
{
	cvt.f32.bf16 %f1, %rs1;
	cvt.f32.bf16 %f2, %rs2;
	mul.rn.f32 \t%f17, %f2, %f4;
	neg.f32 \t%f18, %f17;
	fma.rn.f32 \t%f19, %f1, %f3, %f18;
	{  cvt.rn.bf16.f32 %rs8, %f19;}
	ret;
}
"""),
    ("softmax", False, """.visible .entry softmax(
{
	cvt.f32.bf16 %f1, %rs1;
	mul.f32 \t%f2, %f1, %f9;
	sub.f32 \t%f3, %f2, %f10;
	ex2.approx.ftz.f32 \t%f4, %f3;
	{ cvt.rn.bf16x2.f32 %r1, %f4, %f4;}
	ret;
}
"""),
]


if __name__ == "__main__":
    sys.exit(ptx_checks.entry_check_main(check_entry, SELF_TEST,
                                         "every bf16 rounding of a rotation has its float ops .rn"))
