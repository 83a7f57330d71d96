#!/bin/bash
# Issue 15 on the device in one call, from binaries built on the dev machine (nvcc, sm_90a; see
# quant_prebuilt_bundle.sh): the quantized kernels' tests, the wave2 quantized goldens on the GPU
# (weight-only and W8A8), the decode kernel bench, and pagoda-bench on the Llama-3-8B shape with
# dummy weights in each format: batch-1 decode (floor printed by the same run), then 500
# ShareGPT-like requests for bf16, FP8 and FP8 + fp8 KV in the same call, the kernel bench last. Logs and JSON go into
# a tarball under $OUT; a summary is printed last.
# Usage (repository root on the device): BUNDLE=.dev-carry/quant bash .dev-carry/quant/quant_prebuilt_on_device.sh
#   STAGES: any of "tests goldens kernels b1 sharegpt" (default all); B1_FORMATS, SHAREGPT_RUNS narrow them;
#   B1_BASELINE_FORMATS (default gptq-int4): batch-1 also with PAGODA_QUANT_GEMV=0 (the kernel before quant_gemv).
set -u -o pipefail
BUNDLE=${BUNDLE:-.dev-carry/quant}
BIN=$BUNDLE/bin
S=$BUNDLE/shared
OUT_DIR=/tmp/pagoda-quant-out
STAGES=${STAGES:-tests goldens kernels b1 sharegpt}
B1_FORMATS=${B1_FORMATS:-gptq-int4 awq-int4 fp8-dynamic fp8-block}
B1_BASELINE_FORMATS=${B1_BASELINE_FORMATS-gptq-int4}
SHAREGPT_RUNS=${SHAREGPT_RUNS:-bf16 fp8-dynamic fp8-dynamic-kvfp8}
export PAGODA_GIT_COMMIT=$(cat "$BUNDLE/COMMIT" 2>/dev/null || echo unknown)
mkdir -p "$OUT_DIR"
status=0
start=$(date +%s)
has() { [[ " $STAGES " == *" $1 "* ]]; }
run() { # NAME LIMIT_S COMMAND...: output to NAME.log
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(($(date +%s) - start)) s in)"
  if ! timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past ${limit} s"
    status=1
    return 1
  fi
}
finish() {
  tar czf "${OUT:-/tmp}/quant.tgz" -C "$OUT_DIR" .
  echo "quant_prebuilt_on_device: status $status ($(($(date +%s) - start)) s)"
  exit $status
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
kernels_ok=1
if has tests; then
  for t in quant_gemv_test quant_gemm_test; do
    run $t 120 "$BIN/$t" || kernels_ok=0
    grep -E "^FAIL|passed" "$OUT_DIR/$t.log" | head -8
  done
fi
if has goldens; then
  for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
    run golden-$g 60 "$BIN/pagoda-check" "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" \
      --model "$S/models/wave2/tiny-llama-${g%.w8a8}" --device cuda
    echo "   $(grep -E "passed" "$OUT_DIR/golden-$g.log") $(awk '$NF ~ /ok|FAIL/ && $1 ~ /^[0-9]+$/ {print $(NF-4)}' \
      "$OUT_DIR/golden-$g.log" | sort -g | tail -1 | sed 's/^/worst rel /')"
  done
  # The same goldens one by one and batched with chunked prefill (1-3 token chunks, 5 sequences).
  run golden_test-cuda 120 "$BIN/golden_test" cuda "$S"
  grep -E "batched case|passed|FAIL" "$OUT_DIR/golden_test-cuda.log" | head -12
fi
[ $kernels_ok = 1 ] || { echo "kernel tests failed: no pagoda-bench runs"; STAGES=${STAGES/b1/}; STAGES=${STAGES/sharegpt/}; }
LLAMA="--load-format dummy --device cuda --max-model-len 4096"
cfg_of() { [ "$1" = bf16 ] && echo "$S/llama-3-8b.json" || echo "$BUNDLE/configs/llama-3-8b-$1.json"; }
if has b1; then
  for f in $B1_FORMATS; do
    run decode-b1-$f 90 "$BIN/pagoda-bench" --model "$(cfg_of $f)" $LLAMA --batch-size 1 --input-len 512 \
      --output-len 256 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1.json"
    grep -iE "floor|ms/token|ms per" "$OUT_DIR/decode-b1-$f.log" | head -3
  done
  # The same binary with quant_gemv off (quant_gemm, as before it): the before/after in one call.
  for f in $B1_BASELINE_FORMATS; do
    run decode-b1-$f-quant-gemm 90 env PAGODA_QUANT_GEMV=0 "$BIN/pagoda-bench" --model "$(cfg_of $f)" $LLAMA \
      --batch-size 1 --input-len 512 --output-len 256 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-quant-gemm.json"
    grep -iE "floor" "$OUT_DIR/decode-b1-$f-quant-gemm.log" | head -1
  done
fi
if has sharegpt; then
  for r in $SHAREGPT_RUNS; do
    f=${r%-kvfp8}
    kv=""
    [ "$r" != "$f" ] && kv="--kv-cache-dtype fp8"
    run sharegpt-500-$r 100 "$BIN/pagoda-bench" --model "$(cfg_of $f)" $LLAMA $kv --dataset "$S/sharegpt-like.json" \
      --num-prompts 500 --out "$OUT_DIR/h200-llama3-8b-$r-sharegpt-500.json"
    grep -iE "requests/s" "$OUT_DIR/sharegpt-500-$r.log" | head -2
  done
fi
if has kernels; then
  run quant_kernel_bench 90 "$BIN/quant_kernel_bench" "$OUT_DIR/h200-quant-kernels.json" decode
  grep -A40 "one token's decode GEMMs" "$OUT_DIR/quant_kernel_bench.log"
fi
finish
