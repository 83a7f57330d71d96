#!/usr/bin/env python3
"""Checks Pagoda's CUDA paged attention and cuBLASLt GEMM against PyTorch on the GPU machine,
for Llama-3-8B shapes (32 query heads, 8 KV heads, head_dim 128) with contexts up to 4k.

usage: python3 check_against_torch.py path/to/libpagoda_torch_bridge.so
Exits non-zero when any comparison is over its tolerance (relative L2 error, bf16 outputs).
"""
import ctypes
import math
import sys

import torch

Q_HEADS, KV_HEADS, HEAD_DIM, BLOCK = 32, 8, 128, 16
ATTN_TOL, GEMM_TOL = 1e-2, 1e-2


def load_bridge(path):
    lib = ctypes.CDLL(path)
    lib.pagoda_bridge_last_error.restype = ctypes.c_char_p
    lib.pagoda_bridge_decode_workspace.restype = ctypes.c_long
    return lib


def call(lib, name, *args):
    if getattr(lib, name)(*args) != 0:
        raise RuntimeError(f"{name}: {lib.pagoda_bridge_last_error().decode()}")


def p(t):
    return ctypes.c_void_p(t.data_ptr())


def build_batch(seqs, gen):
    """seqs: list of (query_len, context_len). Returns device tensors and per-seq K/V/Q."""
    dev = "cuda"
    max_ctx = max(c for _, c in seqs)
    max_blocks = (max_ctx + BLOCK - 1) // BLOCK
    total_blocks = sum((c + BLOCK - 1) // BLOCK for _, c in seqs) + 3
    perm = torch.randperm(total_blocks, generator=gen).tolist()
    k_cache = torch.full((total_blocks, KV_HEADS, BLOCK, HEAD_DIM), float("nan"), dtype=torch.bfloat16, device=dev)
    v_cache = k_cache.clone()
    tables = torch.full((len(seqs), max_blocks), -1, dtype=torch.int32)
    num_tokens = sum(q for q, _ in seqs)
    width = (Q_HEADS + 2 * KV_HEADS) * HEAD_DIM
    qkv = (torch.randn(num_tokens, width, generator=gen) * 2).to(torch.bfloat16).to(dev)
    query_start = [0]
    per_seq = []
    used = 0
    for s, (q_len, ctx) in enumerate(seqs):
        n_blocks = (ctx + BLOCK - 1) // BLOCK
        blocks = perm[used:used + n_blocks]
        used += n_blocks
        tables[s, :n_blocks] = torch.tensor(blocks, dtype=torch.int32)
        k = torch.randn(ctx, KV_HEADS, HEAD_DIM, generator=gen).to(torch.bfloat16).to(dev)
        v = torch.randn(ctx, KV_HEADS, HEAD_DIM, generator=gen).to(torch.bfloat16).to(dev)
        padded = n_blocks * BLOCK
        kp = torch.zeros(padded, KV_HEADS, HEAD_DIM, dtype=torch.bfloat16, device=dev)
        vp = torch.zeros_like(kp)
        kp[:ctx], vp[:ctx] = k, v
        idx = torch.tensor(blocks, device=dev)
        k_cache[idx] = kp.view(n_blocks, BLOCK, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v_cache[idx] = vp.view(n_blocks, BLOCK, KV_HEADS, HEAD_DIM).transpose(1, 2)
        start = query_start[-1]
        q = qkv[start:start + q_len, :Q_HEADS * HEAD_DIM].view(q_len, Q_HEADS, HEAD_DIM)
        per_seq.append((q, k, v))
        query_start.append(start + q_len)
    return dict(
        qkv=qkv, k_cache=k_cache, v_cache=v_cache, tables=tables.to(dev), max_blocks=max_blocks,
        query_start=torch.tensor(query_start, dtype=torch.int32, device=dev),
        context_lens=torch.tensor([c for _, c in seqs], dtype=torch.int32, device=dev),
        num_tokens=num_tokens, per_seq=per_seq, width=width)


def torch_attention(q, k, v, ctx):
    """f32 SDPA on the bf16 values, causal by absolute position, GQA by repeating K/V."""
    q_len = q.shape[0]
    group = Q_HEADS // KV_HEADS
    qf = q.float().transpose(0, 1)                                 # [H, q, D]
    kf = k.float().repeat_interleave(group, dim=1).transpose(0, 1)  # [H, ctx, D]
    vf = v.float().repeat_interleave(group, dim=1).transpose(0, 1)
    pos = torch.arange(ctx - q_len, ctx, device=q.device)[:, None]
    mask = torch.arange(ctx, device=q.device)[None, :] <= pos
    out = torch.nn.functional.scaled_dot_product_attention(qf, kf, vf, attn_mask=mask)
    return out.transpose(0, 1)                                     # [q, H, D]


def rel_l2(got, ref):
    return ((got.float() - ref).norm() / ref.norm()).item()


def check_attention(lib, gen, results):
    seqs = [(1024, 1024), (512, 3000), (1, 4096), (1, 1), (1, 2049), (77, 4000), (1, 300), (4096, 4096)]
    b = build_batch(seqs, gen)
    out = torch.full((b["num_tokens"], Q_HEADS * HEAD_DIM), float("nan"), dtype=torch.bfloat16, device="cuda")
    scale = 1.0 / math.sqrt(HEAD_DIM)
    common = (p(b["qkv"]), ctypes.c_long(b["width"]), p(b["k_cache"]), p(b["v_cache"]), p(out),
              p(b["query_start"]), p(b["context_lens"]), p(b["tables"]), b["max_blocks"], Q_HEADS, KV_HEADS,
              HEAD_DIM, BLOCK, ctypes.c_float(scale))
    tiles = [(s, r) for s, (q_len, _) in enumerate(seqs) for r in range(0, q_len, 64)]
    tiles_t = torch.tensor(tiles, dtype=torch.int32, device="cuda")
    call(lib, "pagoda_bridge_prefill", *common, p(tiles_t), len(tiles))
    qs = b["query_start"].tolist()
    for s, (q_len, ctx) in enumerate(seqs):
        q, k, v = b["per_seq"][s]
        ref = torch_attention(q, k, v, ctx)
        got = out[qs[s]:qs[s + 1]].view(q_len, Q_HEADS, HEAD_DIM)
        results.append((f"prefill kernel  q {q_len:5d} ctx {ctx:5d}", rel_l2(got, ref), ATTN_TOL))

    decode = [s for s, (q_len, _) in enumerate(seqs) if q_len == 1]
    ids = torch.tensor(decode, dtype=torch.int32, device="cuda")
    max_ctx = max(seqs[s][1] for s in decode)
    ws_bytes = lib.pagoda_bridge_decode_workspace(len(decode), Q_HEADS, KV_HEADS, HEAD_DIM, max_ctx)
    ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device="cuda")
    out.fill_(float("nan"))
    call(lib, "pagoda_bridge_decode", *common, p(ids), len(decode), max_ctx, p(ws), ctypes.c_long(ws_bytes))
    for s in decode:
        q, k, v = b["per_seq"][s]
        ref = torch_attention(q, k, v, seqs[s][1])
        got = out[qs[s]:qs[s + 1]].view(1, Q_HEADS, HEAD_DIM)
        results.append((f"decode kernel   q     1 ctx {seqs[s][1]:5d}", rel_l2(got, ref), ATTN_TOL))


def check_gemm(lib, gen, results):
    shapes = [(1, 6144, 4096), (16, 4096, 4096), (512, 28672, 4096), (4096, 4096, 14336), (3, 128256, 4096)]
    for m, n, k in shapes:
        x = torch.randn(m, k, generator=gen).to(torch.bfloat16).cuda()
        w = (torch.randn(n, k, generator=gen) / math.sqrt(k)).to(torch.bfloat16).cuda()
        ref = x.float() @ w.float().t()
        for out_f32 in (0, 1):
            y = torch.full((m, n), float("nan"), dtype=torch.float32 if out_f32 else torch.bfloat16, device="cuda")
            call(lib, "pagoda_bridge_linear", p(x), p(w), p(y), m, n, k, out_f32)
            tol = 1e-4 if out_f32 else GEMM_TOL
            results.append((f"gemm m {m:5d} n {n:6d} k {k:5d} {'f32' if out_f32 else 'bf16'} out", rel_l2(y, ref), tol))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if not torch.cuda.is_available():
        print("SKIP check_against_torch: no CUDA device")
        return 0
    lib = load_bridge(sys.argv[1])
    gen = torch.Generator().manual_seed(1234)
    results = []
    check_attention(lib, gen, results)
    check_gemm(lib, gen, results)
    failed = 0
    for name, err, tol in results:
        ok = err == err and err <= tol  # NaN fails
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:44s} rel_l2 {err:.3e} (limit {tol:.0e})")
    print(f"check_against_torch: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
