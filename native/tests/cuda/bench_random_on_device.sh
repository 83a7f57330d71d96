#!/bin/bash
# Issue 4 on the device, part 2 of 2: 1,000 random requests of 1,024 tokens in and 1,024
# out (ignore_eos, fixed seed) all at once, Llama-3-8B shape, dummy weights: output tokens/s,
# its ratio to the roofline (weights + KV bytes read per step / the copy bandwidth measured
# in the same run) and GPU idle time between decode steps. Estimated 5-6 minutes on an
# H100 (about 4,600 steps near 50 ms at batch ~220 and contexts ~1,500, plus 500 prefill
# steps); a progress line every 20 s tells the rate if the limit cuts it off. Run it in its
# own device call after bench_on_device.sh.
# Usage: native/tests/cuda/bench_random_on_device.sh [out dir (default $OUT)] [git commit]
#   NUM_PROMPTS=500 halves it (the figure then says so in its command).
set -u -o pipefail
OUT_DIR=${1:-${OUT:-/tmp/pagoda-bench}}
export PAGODA_GIT_COMMIT=${2:-unknown}
B=${B:-.dev-carry/cuda/bin}
S=${S:-.dev-carry/cuda/shared}
N=${NUM_PROMPTS:-1000}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
status=0
timeout 570 $B/pagoda-bench --model $S/configs/llama-3-8b.json --load-format dummy --device cuda --max-model-len 4096 \
  --dataset random --random-input-len 1024 --random-output-len 1024 --num-prompts "$N" --progress-s 20 \
  --out "$OUT_DIR/llama3-8b-random-1024-1024-$N.json" 2>&1 | tee "$OUT_DIR/random-1024-1024-$N.log" || status=1
native/tests/cuda/summarize_bench.sh "$OUT_DIR" || status=1
echo "bench_random_on_device: status $status"
exit $status
