#!/bin/bash
# Issue 4 on the device, part 1 of 2: every figure but the random 1,024/1,024 x 1,000 run
# (that one is bench_random_on_device.sh, about 5-6 minutes alone), then the correctness
# checks. Llama-3-8B shape, dummy weights, bf16; each figure a pagoda-bench JSON in the out
# folder, each step's output in <name>.log beside it, a summary table at the end.
#   batch-1 decode beside the copy floor (graphs + GPU sampling, steps launched ahead; the same
#     without PDL; one step at a time; eager + host sampling)
#   500 sharegpt-like requests at once (req/s, output tok/s, GPU idle %, roofline ratio; also
#     one step at a time)
#     at gpu_memory_utilization 0.9, 0.7 and 0.5: peak device memory beside X x total
#   prefix caching: 128 prompts of a shared 1,536-token prefix + 512 own, 128 out, on vs off
#   checks: run_on_device.sh (kernels, graphs, sampling, goldens on cuda, 4-layer Llama-3-8B
#     against PyTorch)
# Estimated on an H100 from NOTES.md (load about 17 s a run): figures about 4.5 min, checks
# about 2 min. Binaries and ../shared are carried in .dev-carry/cuda (bundle_for_device.sh).
# Usage: native/tests/cuda/bench_on_device.sh [out dir (default $OUT)] [git commit]
#   SKIP_CHECKS=1 leaves out run_on_device.sh; QUICK=1 passes on (no PyTorch check).
set -u -o pipefail
OUT_DIR=${1:-${OUT:-/tmp/pagoda-bench}}
export PAGODA_GIT_COMMIT=${2:-unknown}
B=${B:-.dev-carry/cuda/bin}
S=${S:-.dev-carry/cuda/shared}
CFG=$S/configs/llama-3-8b.json
LLAMA="--model $CFG --load-format dummy --device cuda --max-model-len 4096"
SHAREGPT="--dataset $S/workloads/sharegpt-like.json --num-prompts 500"
mkdir -p "$OUT_DIR"
status=0
start=$(date +%s)

# run NAME LIMIT_S COMMAND...: runs it under a time limit, its output to NAME.log too.
run() {
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(( $(date +%s) - start )) s in)"
  if ! timeout "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"; then
    echo "!! $name failed or ran past ${limit} s"
    status=1
  fi
}

nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
run decode-b1 120 $B/pagoda-bench $LLAMA --batch-size 1 --input-len 512 --output-len 256 \
  --out "$OUT_DIR/llama3-8b-decode-b1.json"
run decode-b1-no-pdl 120 env PAGODA_CUDA_PDL=0 $B/pagoda-bench $LLAMA --batch-size 1 --input-len 512 --output-len 256 \
  --out "$OUT_DIR/llama3-8b-decode-b1-no-pdl.json"
run decode-b1-one-step-at-a-time 120 env PAGODA_CUDA_ASYNC=0 $B/pagoda-bench $LLAMA --batch-size 1 --input-len 512 \
  --output-len 256 --out "$OUT_DIR/llama3-8b-decode-b1-one-step-at-a-time.json"
run decode-b1-eager-host-sampling 120 env PAGODA_CUDA_GRAPHS=0 PAGODA_CUDA_SAMPLING=0 $B/pagoda-bench $LLAMA \
  --batch-size 1 --input-len 512 --output-len 256 --out "$OUT_DIR/llama3-8b-decode-b1-eager-host-sampling.json"
run sharegpt-500 150 $B/pagoda-bench $LLAMA $SHAREGPT --progress-s 10 --out "$OUT_DIR/llama3-8b-sharegpt-500.json"
run sharegpt-500-one-step-at-a-time 150 env PAGODA_CUDA_ASYNC=0 $B/pagoda-bench $LLAMA $SHAREGPT --progress-s 10 \
  --out "$OUT_DIR/llama3-8b-sharegpt-500-one-step-at-a-time.json"
for util in 0.7 0.5; do
  run sharegpt-500-mem$util 150 $B/pagoda-bench $LLAMA $SHAREGPT --gpu-memory-utilization $util --progress-s 10 \
    --out "$OUT_DIR/llama3-8b-sharegpt-500-mem$util.json"
done
run prefix-caching 200 $B/pagoda-bench $LLAMA --prefix-workload --prefix-len 1536 --suffix-len 512 --output-len 128 \
  --num-prompts 128 --progress-s 10 --out "$OUT_DIR/llama3-8b-prefix-caching.json"
if [ "${SKIP_CHECKS:-0}" != 1 ]; then
  run checks 330 native/tests/cuda/run_on_device.sh
fi
if [ "${KERNEL_BENCH:-0}" = 1 ]; then
  run kernel-bench 120 $B/cuda_kernel_bench
fi
echo "== summary ($(( $(date +%s) - start )) s in all)"
native/tests/cuda/summarize_bench.sh "$OUT_DIR" || status=1
echo "bench_on_device: status $status"
exit $status
