#!/usr/bin/env python3
"""Fails when a decode GEMV uses a narrow value it loads from global memory in the block that loads it; no GPU.

quant_gemm_lean's stages prefetch the weights of a later group together with that group's scale (a half) and zero
point (a byte). Until session 18 the stage's load converted both on the spot (half -> float, z -> the bf16 pair
128 + z), and since the loads sit in the block `if (j + D < count) load(st)`, the conversion stayed there: every warp
then waited a whole memory round trip right after issuing the stage it meant to prefetch. Nsight put 49.5% of int4
gate_up's stall samples (m 1, H200) on that conversion. This check keeps a stage's narrow loads unconsumed until
their use, which is in a later basic block.

The rule: in every .entry whose name contains the pattern (default quant_gemm_lean_kernel), split the body into
basic blocks at labels and branches; within a block, no instruction may read a register written by an 8-bit
ld.global (a zero point), and no cvt.f32.f16 may read one written by a 16-bit ld.global (a half scale), in that same
block. (bf16 loads are left alone: an epilogue reading y for y += beta * y uses what it loads at once, and nothing is
prefetched there.) Usage: ptx_stage_load_check.py --self-test (hand-written PTX, no nvcc) |
[--nvcc NVCC] [--include DIR] [--arch sm_90a] [--entry PATTERN] file.cu|.ptx ...
Exit 0: clean; 1: a narrow load used where it is loaded; 2: a compile failed.
"""
import re
import sys

import ptx_checks

LABEL = re.compile(r"^\s*\$?[\w$]+:\s*$")
INSN = re.compile(r"^\s*(?:@!?%p\d+\s+)?([a-z][\w.:]*)\s*(.*?);")
REG = re.compile(r"%[a-z]+\d+")
NARROW_LOAD = re.compile(r"^ld\.global(?:\.[a-z]+)*\.(?:u8|s8|b8|u16|s16|b16|f16)$")
BYTE_LOAD = re.compile(r"^ld\.global(?:\.[a-z]+)*\.(?:u8|s8|b8)$")


def check_entry(name, body):
    bad = []
    pending = {}  # register -> the narrow load that wrote it, in the current block
    for n, line in enumerate(body.split("\n")):
        if LABEL.match(line):
            pending.clear()
            continue
        m = INSN.match(line.strip().lstrip("{").rstrip("}").strip())  # inline asm comes as `{ op ...;}`
        if not m:
            continue
        op, rest = m.group(1), m.group(2)
        regs = REG.findall(rest)
        if op.startswith(("bra", "ret", "exit")):
            pending.clear()
            continue
        is_store = op.startswith("st.")
        dst, srcs = (None, regs) if is_store else (regs[0] if regs else None, regs[1:])
        for r in srcs:
            if r in pending and (BYTE_LOAD.match(pending[r]) or op.startswith("cvt.f32.f16")):
                bad.append("%s: %s reads %s, loaded by `%s` in the same block (PTX line %d)" %
                           (name, op, r, pending[r], n))
        if dst is not None:
            pending.pop(dst, None)
            if NARROW_LOAD.match(op):
                pending[dst] = op
    return sorted(set(bad))


# Hand-written PTX: session 17's stage load (the scale converted as loaded, under the prefetch branch) and zero
# point, the same stage keeping the half for a later block, and an epilogue using the bf16 it loads.
SELF_TEST = [
    ("converted_at_load", True, """.visible .entry converted_at_load(
{
	@%p3 bra 	$L__BB0_12;
	ld.global.cs.v4.u32 	{%r60, %r61, %r62, %r63}, [%rd40];
	ld.global.u16 	%rs5, [%rd41];
	{ cvt.f32.f16 %f20, %rs5;}
	add.s64 	%rd41, %rd41, %rd9;
$L__BB0_12:
	ret;
}
"""),
    ("zero_at_load", True, """.visible .entry zero_at_load(
{
	ld.global.cs.v4.u32 	{%r60, %r61, %r62, %r63}, [%rd40];
	ld.global.u8 	%rs7, [%rd50];
	cvt.u32.u16 	%r80, %rs7;
	mad.lo.s32 	%r81, %r80, 65537, 1124090624;
	ret;
}
"""),
    ("kept_raw", False, """.visible .entry kept_raw(
{
	@%p3 bra 	$L__BB0_12;
	ld.global.cs.v4.u32 	{%r60, %r61, %r62, %r63}, [%rd40];
	ld.global.u16 	%rs5, [%rd41];
	add.s64 	%rd41, %rd41, %rd9;
$L__BB0_12:
	{ cvt.f32.f16 %f20, %rs5;}
	fma.rn.f32 	%f21, %f22, %f20, %f21;
	ret;
}
"""),
    ("epilogue", False, """.visible .entry epilogue(
{
	ld.global.u16 	%rs9, [%rd60];
	cvt.f32.bf16 	%f30, %rs9;
	fma.rn.f32 	%f31, %f32, %f30, %f33;
	ret;
}
"""),
]


if __name__ == "__main__":
    sys.exit(ptx_checks.entry_check_main(check_entry, SELF_TEST, "no narrow global load used in the block that loads it",
                                         default_entry="quant_gemm_lean_kernel"))
