# sentence-transformers' embedding throughput on the shape pagoda-embed-bench runs, on the same
# card in the same device call: a randomly initialised XLMRobertaModel built from the same
# config.json (bench/configs/bge-m3-shape.json), wrapped as sentence-transformers modules
# Transformer + Pooling (CLS) + Normalize, fed N pre-tokenized inputs of L tokens (the same
# random ids as the engine: <s> ... </s>); its own forward, embeddings moved to the host as
# encode() does. Runs fp32 (sentence-transformers' default: batch 32, no TF32) and fp16 / bf16
# at the best batch size of a short sweep. Prints one JSON object; --out writes it.
#   python3 bench/st_embed_bench.py --config bench/configs/bge-m3-shape.json --tokenizer <dir> \
#     --num-passages 10000 --passage-len 256 --out st.json
import argparse
import json
import os
import shutil
import tempfile
import time

import torch
import sentence_transformers
from sentence_transformers import SentenceTransformer, models
from transformers import XLMRobertaConfig, XLMRobertaModel


def build(config_path, tokenizer_dir, work):
    config = XLMRobertaConfig.from_json_file(config_path)
    torch.manual_seed(0)
    model = XLMRobertaModel(config, add_pooling_layer=False)  # random weights, float32
    model.save_pretrained(work)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(tokenizer_dir, name)
        if os.path.exists(src):
            shutil.copy(src, work)
    del model
    transformer = models.Transformer(work, max_seq_length=config.max_position_embeddings - 2)
    pooling = models.Pooling(config.hidden_size, pooling_mode="cls")
    return SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cuda")


def inputs(n, length, seed=1234):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 1000, (n, length), generator=g, dtype=torch.long)
    ids[:, 0] = 0
    ids[:, -1] = 2
    return ids


@torch.inference_mode()
def run(st, ids, batch):
    out = []
    for i in range(0, ids.shape[0], batch):
        chunk = ids[i:i + batch].to("cuda", non_blocking=True)
        features = {"input_ids": chunk, "attention_mask": torch.ones_like(chunk)}
        out.append(st(features)["sentence_embedding"].float().cpu())
    torch.cuda.synchronize()
    return torch.cat(out)


def timed(st, ids, batch):
    run(st, ids[: batch * 2], batch)  # warm-up
    t0 = time.perf_counter()
    emb = run(st, ids, batch)
    s = time.perf_counter() - t0
    return s, emb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--tokenizer", required=True, help="a folder with an XLM-R tokenizer.json (not used for ids)")
    p.add_argument("--num-passages", type=int, default=10000)
    p.add_argument("--passage-len", type=int, default=256)
    p.add_argument("--sweep-passages", type=int, default=1024)
    p.add_argument("--out")
    a = p.parse_args()
    ids = inputs(a.num_passages, a.passage_len)
    tokens = a.num_passages * a.passage_len
    result = {
        "tool": "st_embed_bench.py",
        "engine": "sentence-transformers",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "num_passages": a.num_passages,
        "passage_len": a.passage_len,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as work:
        st = build(a.config, a.tokenizer, work).to(torch.float32)
        inner = getattr(st[0], "auto_model", None) or getattr(st[0], "model", None)
        result["attn_implementation"] = getattr(getattr(inner, "config", None), "_attn_implementation", None)
        s, emb = timed(st, ids, 32)
        result["runs"].append({"dtype": "float32", "batch_size": 32, "default": True, "seconds": round(s, 3),
                               "passages_per_s": round(a.num_passages / s, 1), "tokens_per_s": round(tokens / s)})
        print(json.dumps(result["runs"][-1]), flush=True)
        for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
            st.to(dtype)
            sweep = {}
            for batch in (32, 64, 128, 256):
                s, _ = timed(st, ids[: a.sweep_passages], batch)
                sweep[batch] = a.sweep_passages / s
            best = max(sweep, key=sweep.get)
            s, _ = timed(st, ids, best)
            result["runs"].append({"dtype": name, "batch_size": best, "default": False, "seconds": round(s, 3),
                                   "passages_per_s": round(a.num_passages / s, 1), "tokens_per_s": round(tokens / s),
                                   "sweep_passages_per_s": {str(k): round(v, 1) for k, v in sweep.items()}})
            print(json.dumps(result["runs"][-1]), flush=True)
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
