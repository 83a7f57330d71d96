#!/bin/bash
# The throughput figures of the CUDA backend on the device (Llama-3-8B shape, dummy weights),
# each written as pagoda-bench JSON into the folder given (default /tmp/pagoda-bench):
# batch-1 decode beside the copy-bandwidth floor (graphs + GPU sampling, then eager + host
# sampling for comparison) and the 500 sharegpt-like requests at once.
# Usage: native/tests/cuda/bench_on_device.sh [out dir] [git commit]
set -u
OUT_DIR=${1:-/tmp/pagoda-bench}
export PAGODA_GIT_COMMIT=${2:-unknown}
B=.dev-carry/cuda/bin
S=.dev-carry/cuda/shared
CFG=$S/configs/llama-3-8b.json
mkdir -p "$OUT_DIR"
status=0
echo "== batch-1 decode, CUDA graphs + GPU sampling (defaults)"
timeout 150 $B/pagoda-bench --model $CFG --load-format dummy --device cuda --batch-size 1 --input-len 512 \
  --output-len 256 --max-model-len 4096 --out "$OUT_DIR/llama3-8b-decode-b1.json" || status=1
echo "== batch-1 decode, eager + host sampling (PAGODA_CUDA_GRAPHS=0 PAGODA_CUDA_SAMPLING=0)"
PAGODA_CUDA_GRAPHS=0 PAGODA_CUDA_SAMPLING=0 timeout 150 $B/pagoda-bench --model $CFG --load-format dummy \
  --device cuda --batch-size 1 --input-len 512 --output-len 256 --max-model-len 4096 \
  --out "$OUT_DIR/llama3-8b-decode-b1-eager-host-sampling.json" || status=1
echo "== sharegpt-like, 500 requests at once"
timeout 300 $B/pagoda-bench --model $CFG --load-format dummy --device cuda --dataset $S/workloads/sharegpt-like.json \
  --num-prompts 500 --max-model-len 4096 --out "$OUT_DIR/llama3-8b-sharegpt-500.json" || status=1
echo "bench_on_device: status $status"
exit $status
