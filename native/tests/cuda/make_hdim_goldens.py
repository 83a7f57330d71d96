#!/usr/bin/env python3
# Makes tiny Llama checkpoints with head_dim 32, 80 and 96 and their goldens (the layout of
# ../shared/fixtures/README.md) on the GPU machine, where torch and transformers are installed:
# random weights from a fixed seed stored in bf16, logits and greedy ids from transformers in
# float32 on the upcast weights (on the CPU), for the prompts of tiny-llama3's golden.
# Usage: make_hdim_goldens.py SHARED_DIR OUT_DIR   (writes OUT_DIR/models/<name>/ and
#        OUT_DIR/golden/<name>.golden.json, and prints one summary line per checkpoint)
import base64
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

GREEDY_STEPS = 48
NEAR_TIE = 0.05

# name, head_dim, hidden, heads, kv heads. head_dim 32: hidden = heads x head_dim; 80 and 96
# keep hidden 128 (head_dim set apart from hidden / heads, as Qwen3 and Gemma do) so each
# checkpoint stays under 1 MB.
SHAPES = [
    ("tiny-llama-hd32", 32, 128, 4, 2),
    ("tiny-llama-hd80", 80, 128, 4, 2),
    ("tiny-llama-hd96", 96, 128, 4, 2),
]


def make_checkpoint(name, head_dim, hidden, heads, kv_heads, seed, shared, out):
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        # 0.1, not the usual 0.02: the attention scores then spread (std ~1.3) and the layers,
        # not the embeddings, set the logits, so a wrong attention output shows in them.
        initializer_range=0.1,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    folder = os.path.join(out, "models", name)
    model.save_pretrained(folder)  # safetensors (the only format transformers 5 writes)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(shared, "models", "tiny-llama3", f), folder)
    return folder


def load_f32(folder):
    try:
        return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    except TypeError:
        return LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()


@torch.no_grad()
def golden_case(model, tokenizer, prompt):
    ids = list(prompt["prompt_ids"])
    logits = model(torch.tensor([ids])).logits[0].float().numpy()
    case = {
        "prompt_text": prompt["prompt_text"],
        "prompt_ids": ids,
        "prompt_logits_f32_b64": base64.b64encode(logits.astype("<f4").tobytes()).decode("ascii"),
        "prompt_logits_shape": list(logits.shape),
    }
    seq, greedy, logprobs, margins = list(ids), [], [], []
    for _ in range(GREEDY_STEPS):
        last = model(torch.tensor([seq])).logits[0, -1].double()
        top2 = torch.topk(last, 2)
        token = int(top2.indices[0])
        logprobs.append(round(float(torch.log_softmax(last, -1)[token]), 6))
        margins.append(round(float(top2.values[0] - top2.values[1]), 5))
        greedy.append(token)
        seq.append(token)
    near = [i for i, m in enumerate(margins) if m < NEAR_TIE]
    case.update({
        "greedy_ids": greedy,
        "greedy_text": tokenizer.decode(greedy, skip_special_tokens=True),
        "greedy_logprobs": logprobs,
        "greedy_top1_top2_margin": margins,
        "first_step_with_margin_below_0.05": near[0] if near else None,
    })
    return case


def main():
    shared, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    prompts = json.load(open(os.path.join(shared, "fixtures", "golden", "tiny-llama3.golden.json")))["cases"]
    tokenizer = Tokenizer.from_file(os.path.join(shared, "models", "tiny-llama3", "tokenizer.json"))
    os.makedirs(os.path.join(out, "golden"), exist_ok=True)
    summary = []
    for seed, (name, head_dim, hidden, heads, kv_heads) in enumerate(SHAPES, start=2026):
        folder = make_checkpoint(name, head_dim, hidden, heads, kv_heads, seed, shared, out)
        model = load_f32(folder)
        cases = [golden_case(model, tokenizer, p) for p in prompts]
        golden = {
            "model": name,
            "weights_dtype": "bfloat16",
            "reference": f"transformers {transformers.__version__}, fp32 compute on upcast weights",
            "cases": cases,
        }
        path = os.path.join(out, "golden", f"{name}.golden.json")
        with open(path, "w") as f:
            json.dump(golden, f)
        weights = os.path.getsize(os.path.join(folder, "model.safetensors"))
        row = {
            "model": name, "head_dim": head_dim, "hidden_size": hidden, "heads": heads, "kv_heads": kv_heads,
            "layers": 2, "seed": seed, "weights_bytes": weights,
            "first_near_tie": [c["first_step_with_margin_below_0.05"] for c in cases],
        }
        summary.append(row)
        print("made", json.dumps(row), flush=True)
    with open(os.path.join(out, "golden", "hdim-goldens-summary.json"), "w") as f:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "checkpoints": summary}, f,
                  indent=1)


if __name__ == "__main__":
    main()
