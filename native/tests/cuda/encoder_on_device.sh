#!/bin/bash
# Issue 16 on the device, in one call: the encoder kernel tests, the wave2 embedding / rerank
# goldens on the GPU, then the bge-m3-shaped throughput of pagoda-embed-bench beside
# sentence-transformers (bench/st_embed_bench.py) on the same card. Everything it needs is in
# the carried folder (encoder_bundle_for_device.sh fills it); results land in $1.
# Usage: native/tests/cuda/encoder_on_device.sh <out dir> [carried folder (.dev-carry/encoder)]
# CHECKS_ONLY=1: the tests and the engine's default-budget figure only (no sentence-transformers).
set -u
OUT=${1:?out dir}
C=${2:-.dev-carry/encoder}
mkdir -p "$OUT"
export PAGODA_SHARED="$C/shared"
status=0
{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
  cat "$C/COMMIT"
  for t in varlen_attention_test encoder_kernels_test pooling_golden_cuda_test; do
    echo "== $t"
    if ! "$C/bin/$t"; then
      echo "FAILED: $t"
      status=1
      # Where a kernel faults or reads out of bounds, the sanitizer names it (the small tests only).
      [ "$t" != pooling_golden_cuda_test ] && command -v compute-sanitizer >/dev/null &&
        compute-sanitizer --print-limit 5 "$C/bin/$t" 2>&1 | tail -30
    fi
  done
} > "$OUT/checks.log" 2>&1
PASSAGES=${PASSAGES:-10000}
echo "== pagoda-embed-bench" > "$OUT/bench.log"
"$C/bin/pagoda-embed-bench" --model "$C/bge-m3-shape.json" --load-format dummy --device cuda --dtype bfloat16 \
  --num-passages "$PASSAGES" --passage-len 256 --out "$OUT/pagoda.json" >> "$OUT/bench.log" 2>&1 || status=1
if [ "${CHECKS_ONLY:-0}" != 1 ]; then
echo "== pagoda-embed-bench, 65536-token forwards" >> "$OUT/bench.log"
"$C/bin/pagoda-embed-bench" --model "$C/bge-m3-shape.json" --load-format dummy --device cuda --dtype bfloat16 \
  --num-passages "$PASSAGES" --passage-len 256 --max-num-batched-tokens 65536 --out "$OUT/pagoda-64k.json" \
  >> "$OUT/bench.log" 2>&1 || status=1
echo "== sentence-transformers" >> "$OUT/bench.log"
python3 "$C/st_embed_bench.py" --config "$C/bge-m3-shape.json" --st-folder "$C/shared/models/wave2/tiny-xlmr-embed" \
  --num-passages "$PASSAGES" --passage-len 256 --out "$OUT/st.json" >> "$OUT/bench.log" 2>&1 || status=1
fi
tail -c 3000 "$OUT/checks.log"
tail -c 2500 "$OUT/bench.log"
exit $status
