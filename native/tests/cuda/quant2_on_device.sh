#!/bin/bash
# Issue 15 on the device in one call (about 5 minutes), from binaries built on the dev machine
# (see quant2_bundle_for_device.sh): quant_gemm_test (kernels incl. the fake-quantizing and
# float32 dequantizing ones) and elementwise_kernels_test (incl. the W8A8-fused norms and
# SiLU·mul), the wave2 quantized goldens on the GPU — weight-only and *.w8a8, through pagoda-check
# (one table per golden; bf16, float32, and the W8A8 ones also with PAGODA_W8A8_FUSED=0) and
# `golden_test cuda` (one by one and batched with chunked prefill, bf16 then float32 compute) —
# and pagoda-bench batch-1 decode on the Llama-3-8B shape with dummy weights for bf16 / GPTQ /
# AWQ / FP8 / FP8-block (FP8 also unfused), each printed beside its floor. Logs and JSON go into
# $OUT/quant2-out (written as they go, so a run cut short still brings back what it did); a summary is
# printed as it goes. Decode runs stop being started past BUDGET_S seconds (default 480).
# (Stage gemv2, the decode GEMV quant_gemv2, ran in session 7; the kernel was removed in session 8.)
# Usage (repository root on the device): bash .dev-carry/quant2/quant2_on_device.sh
#   STAGES: any of "tests goldens b1" (default all); B1_FORMATS, B1_UNFUSED_FORMATS narrow the decode runs.
set -u -o pipefail
BUNDLE=${BUNDLE:-$(cd "$(dirname "$0")" && pwd)} # the folder this script was bundled into
BIN=$BUNDLE/bin
S=$BUNDLE/shared
OUT_DIR=${OUT:-/tmp}/quant2-out
BUDGET_S=${BUDGET_S:-480}
STAGES=${STAGES:-tests goldens b1}
B1_FORMATS=${B1_FORMATS:-bf16 gptq-int4 awq-int4 fp8-dynamic fp8-block}
B1_UNFUSED_FORMATS=${B1_UNFUSED_FORMATS-fp8-dynamic}
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
  echo "quant2_on_device: status $status ($(($(date +%s) - start)) s); logs and JSON in $OUT_DIR"
  exit $status
}
in_budget() { # NAME: false (and says so) once BUDGET_S seconds have gone
  [ $(($(date +%s) - start)) -lt "$BUDGET_S" ] && return 0
  echo "-- $1 not started: past ${BUDGET_S} s"
  return 1
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
if has tests; then
  for t in quant_gemm_test elementwise_kernels_test; do
    run $t 120 "$BIN/$t"
    grep -E "^FAIL|skip|passed|fp8-fused" "$OUT_DIR/$t.log" | head -24
  done
fi
if has goldens; then
  for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
    variants="auto float32"
    [ "$g" != "${g%.w8a8}" ] && variants="auto float32 unfused"
    for v in $variants; do
      dtype=$v
      fused=1
      [ $v = unfused ] && { dtype=auto; fused=0; }
      run golden-$g-$v 40 env PAGODA_W8A8_FUSED=$fused "$BIN/pagoda-check" \
        "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" --model "$S/models/wave2/tiny-llama-${g%.w8a8}" \
        --device cuda --dtype $dtype
      # The worst per-position relative error over the cases (column max_rel) beside the verdict.
      echo "   $(grep -E "passed" "$OUT_DIR/golden-$g-$v.log") worst rel $(awk '$1 ~ /^[0-9]+$/ && ($NF == "ok" || $NF == "FAIL") {print $(NF-3)}' \
        "$OUT_DIR/golden-$g-$v.log" | sort -g | tail -1)"
    done
  done
  run golden_test-cuda 180 "$BIN/golden_test" cuda "$S"
  grep -E "FAIL|passed|failure" "$OUT_DIR/golden_test-cuda.log" | head -20
fi
LLAMA="--load-format dummy --device cuda --max-model-len 4096"
cfg_of() { [ "$1" = bf16 ] && echo "$S/llama-3-8b.json" || echo "$BUNDLE/configs/llama-3-8b-$1.json"; }
if has b1; then
  for f in $B1_FORMATS; do
    in_budget decode-b1-$f || continue
    run decode-b1-$f 100 env PAGODA_W8A8_FUSED=1 "$BIN/pagoda-bench" --model "$(cfg_of $f)" $LLAMA --batch-size 1 --input-len 512 \
      --output-len 256 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1.json"
    echo "   $f: $(grep -E "^floor" "$OUT_DIR/decode-b1-$f.log" | head -1)"
  done
  # FP8 W8A8 with the quantization left to the linears (a kernel before each decode GEMM): the A/B.
  for f in $B1_UNFUSED_FORMATS; do
    in_budget decode-b1-$f-unfused || continue
    run decode-b1-$f-unfused 100 env PAGODA_W8A8_FUSED=0 "$BIN/pagoda-bench" --model "$(cfg_of $f)" $LLAMA \
      --batch-size 1 --input-len 512 --output-len 256 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-unfused.json"
    echo "   $f unfused: $(grep -E "^floor" "$OUT_DIR/decode-b1-$f-unfused.log" | head -1)"
  done
fi
finish
