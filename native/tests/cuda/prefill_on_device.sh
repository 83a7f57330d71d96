#!/bin/bash
# The prefill attention kernel's A/B in one call (~2 min): paged_attention_wgmma_test gates; then
# `cuda_kernel_bench prefill-quick` (head_dim 128's wgmma schedules at block sizes 16 and 128, 32k and 131k
# tokens) with the earlier binary when the bundle has one and with this one; then Llama-3.1-8B's 32k and 120k
# prefills end to end (dummy weights), JSON beside the logs. SKIP="e2e" leaves the end-to-end runs out. Then the padded
# head_dims (kPaddedHead, the default for 32-112 since session 29; not a gate): their test cases, and if they pass
# `cuda_kernel_bench prefill-padded` (mma.sync beside the padded wgmma kernel at 4k and 32k) and the head_dim 32 / 80 /
# 96 goldens through the engine with the defaults. SKIP="padded" leaves them out.
# Bundle: prefill_bundle_for_device.sh. Usage: OUT=/some/dir [QUICK="32768 131072"] bash BUNDLE/prefill_on_device.sh
SCRIPT=prefill_on_device LOGS=prefill TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/prefill-bin && tar xzf "$B/bin.tar.gz" -C /tmp/prefill-bin && BIN=/tmp/prefill-bin/bin
PAGODA_WGMMA_TEST_CASES=layouts test_or_stop paged_attention_wgmma_test 150 "$BIN/paged_attention_wgmma_test"
grep -E "passed" "$OUT_DIR/paged_attention_wgmma_test.log" | tail -1
for kb in cuda_kernel_bench-before cuda_kernel_bench; do
  [ -x "$BIN/$kb" ] || continue
  run "$kb-quick" 120 "$BIN/$kb" prefill-quick ${QUICK:-32768 131072} && grep -E "^prefill|rel L2" "$OUT_DIR/$kb-quick.log" | sed "s/^/   $kb: /"
done
if ! skipped e2e; then
  P="--model $B/configs/llama-3.1-8b.json --load-format dummy --device cuda --skip-bandwidth --batch-size 1 --output-len 2"
  run prefill-32k 80 "$BIN/pagoda-bench" $P --max-model-len 33024 --input-len 32768 \
    --out "$OUT_DIR/$CARD-llama31-8b-prefill-32k.json" && echo "   32k: $(grep -E "^prefill" "$OUT_DIR/prefill-32k.log")"
  run prefill-120k 110 "$BIN/pagoda-bench" $P --max-model-len 120064 --input-len 120000 \
    --out "$OUT_DIR/$CARD-llama31-8b-prefill-120k.json" && echo "   120k: $(grep -E "^prefill" "$OUT_DIR/prefill-120k.log")"
fi
if ! skipped padded &&
  run paged_attention_wgmma_test-padded 120 env PAGODA_WGMMA_TEST_CASES=padded "$BIN/paged_attention_wgmma_test"; then
  grep -E "passed" "$OUT_DIR/paged_attention_wgmma_test-padded.log" | tail -1
  run prefill-padded 120 "$BIN/cuda_kernel_bench" prefill-padded 4096 32768 &&
    grep -E "^prefill|rel L2" "$OUT_DIR/prefill-padded.log" | sed "s/^/   /"
  # Through the engine: the head_dim 32 / 80 / 96 goldens, which prefill on the padded kernel by default.
  hdim_goldens
fi
finish
