# sentence-transformers' embedding throughput on the shape pagoda-embed-bench runs, on the same
# card in the same device call. A randomly initialised XLMRobertaModel built from the same
# config.json (bench/configs/bge-m3-shape.json) is saved with the sentence-transformers files
# of a legacy-layout embedding folder (modules.json: Transformer + Pooling (CLS) + Normalize, as
# bge-m3 ships; the tokenizer of --st-folder) and loaded with SentenceTransformer(folder). Its
# encode() embeds N texts that tokenize to exactly L tokens (<s>, L - 2 one-token words, </s>):
# fp32 as it runs by default (batch 32, no TF32), then fp16 and bf16 at the best batch size of a
# short sweep. Prints one JSON object; --out writes it.
#   python3 bench/st_embed_bench.py --config bench/configs/bge-m3-shape.json \
#     --st-folder ../shared/models/wave2/tiny-xlmr-embed --num-passages 10000 --passage-len 256 --out st.json
import argparse
import json
import os
import random
import shutil
import tempfile
import time

import torch
import sentence_transformers
from sentence_transformers import SentenceTransformer
from transformers import XLMRobertaConfig, XLMRobertaModel


def build(config_path, st_folder, work, max_len):
    config = XLMRobertaConfig.from_json_file(config_path)
    torch.manual_seed(0)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(work)  # random weights, float32
    for name in ("modules.json", "config_sentence_transformers.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):
        if os.path.exists(os.path.join(st_folder, name)):
            shutil.copy(os.path.join(st_folder, name), work)
    with open(os.path.join(work, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": max_len, "do_lower_case": False}, f)
    pooling = json.load(open(os.path.join(st_folder, "1_Pooling", "config.json")))
    for key in ("word_embedding_dimension", "embedding_dimension"):
        if key in pooling:
            pooling[key] = config.hidden_size
    os.makedirs(os.path.join(work, "1_Pooling"))
    with open(os.path.join(work, "1_Pooling", "config.json"), "w") as f:
        json.dump(pooling, f)
    return SentenceTransformer(work, device="cuda")


def texts_of(st, folder, n, length, seed=1234):
    """n texts that st's tokenizer turns into exactly `length` ids (special tokens included)."""
    tok = getattr(st, "tokenizer", None)
    if tok is None:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(folder)
    words = []
    for piece in tok.get_vocab():
        w = piece.lstrip("\u2581")
        if w.isalpha() and len(tok(w, add_special_tokens=False)["input_ids"]) == 1:
            words.append(w)
    rng = random.Random(seed)
    texts = []
    for _ in range(3 * n):
        t = " ".join(rng.choice(words) for _ in range(length - 2))
        if len(tok(t)["input_ids"]) == length:
            texts.append(t)
            if len(texts) == n:
                return texts, len(words)
    raise SystemExit(f"could not make texts of exactly {length} tokens from {len(words)} one-token words")


def timed(st, texts, batch):
    st.encode(texts[: batch * 2], batch_size=batch)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    st.encode(texts, batch_size=batch)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--st-folder", required=True, help="a legacy-layout XLM-R embedding folder (files and tokenizer)")
    p.add_argument("--num-passages", type=int, default=10000)
    p.add_argument("--passage-len", type=int, default=256)
    p.add_argument("--sweep-passages", type=int, default=1024)
    p.add_argument("--out")
    a = p.parse_args()
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
        t0 = time.perf_counter()
        st = build(a.config, a.st_folder, work, max(a.passage_len, 512)).to(torch.float32)
        result["load_s"] = round(time.perf_counter() - t0, 2)
        try:
            result["modules"] = [type(m).__name__ for m in st]
            inner = getattr(st[0], "auto_model", None) or getattr(st[0], "model", None)
            result["attn_implementation"] = getattr(getattr(inner, "config", None), "_attn_implementation", None)
        except Exception as e:  # only descriptive
            result["modules"] = repr(e)
        texts, result["one_token_words"] = texts_of(st, work, a.num_passages, a.passage_len)
        s = timed(st, texts, 32)
        result["runs"].append({"dtype": "float32", "batch_size": 32, "default": True, "seconds": round(s, 3),
                               "passages_per_s": round(a.num_passages / s, 1), "tokens_per_s": round(tokens / s)})
        print(json.dumps(result["runs"][-1]), flush=True)
        for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
            st.to(dtype)
            sweep = {}
            for batch in (32, 64, 128, 256):
                sweep[batch] = a.sweep_passages / timed(st, texts[: a.sweep_passages], batch)
            best = max(sweep, key=sweep.get)
            s = timed(st, texts, best)
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
