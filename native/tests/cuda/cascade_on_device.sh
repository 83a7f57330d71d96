#!/bin/bash
# Issue 20's cascade attention (on by default; PAGODA_CASCADE_ATTENTION=0 turns it off: decode sequences sharing a prefix read its
# K/V once a step) on the device in one call, in order: cascade_attention_test (cascade vs
# paged_attention_decode and a float64 reference, block sizes 16 / 32, head_dim 64 / 128, groups
# 1..16, batches 8 / 37 / 128, prefixes 256..4096: must pass before anything is timed; on failure
# compute-sanitizer memcheck on it); `cuda_kernel_bench cascade` (one layer of the prefix workload's
# decode attention, plain vs cascade, with the copy bandwidth); pagoda-bench's prefix workload on
# Llama-3-8B (dummy weights) with the switch 0 then 1 (decode ms/step: target <= 8.5; caching-on run
# time and speedup: goal 2.8x); the same workload on tiny-qwen3 (head_dim 128) and tiny-llama3 (64)
# with real weights, switch 0 vs 1 and the float32 CPU backend, whose greedy ids must agree
# (compare_tokens.py: >= 90% of requests identical, or the switch-1 run at least as close to the CPU
# reference as the switch-0 run; the cascade path must have run); the tiny goldens through pagoda-check with the switch
# on. A run starts only while it can end before TOTAL_S (default 340). Logs and JSON go to $OUT/cascade,
# tarred into $OUT/cascade-logs.tar.gz. Bundle: cascade_bundle_for_device.sh.
# Usage: OUT=/some/dir bash BUNDLE/cascade_on_device.sh
SCRIPT=cascade_on_device LOGS=cascade TOTAL_S=${TOTAL_S:-340}
source "$(dirname "$0")/device_run.sh"
if [ -f "$B/bin.tar.gz" ]; then # the bundle gzips its binaries
  mkdir -p /tmp/cascade-bin && tar xzf "$B/bin.tar.gz" -C /tmp/cascade-bin && BIN=/tmp/cascade-bin/bin
fi
test_or_stop cascade_attention_test 90 "$BIN/cascade_attention_test"
grep -E "^FAIL|passed" "$OUT_DIR/cascade_attention_test.log" | head -20

run kernel_bench-cascade 60 "$BIN/cuda_kernel_bench" cascade &&
  grep -vE "^$" "$OUT_DIR/kernel_bench-cascade.log" | head -20

# ms per decode step, caching-on elapsed and speedup from a prefix-workload JSON.
figures() {
  python3 - "$1" <<'PY' 2>/dev/null || echo "(no figures)"
import json, sys
f = json.load(open(sys.argv[1]))["figures"]
d = f["step_time"]["caching_on"]["decode_steps"]
print(f"decode steps {d['steps']} at {d['ms_per_step']:.2f} ms/step; caching on {f['caching_on']['elapsed_s']:.2f} s, "
      f"speedup {f['speedup_output_tokens_per_s']:.2f}x")
PY
}
cascade_steps() { grep -E "caching on: [0-9]+ cascade" "$OUT_DIR/$1.log" | grep -oE "[0-9]+ cascade" | grep -oE "[0-9]+"; }

LLAMA="--model $B/configs/llama-3-8b.json --load-format dummy --device cuda --skip-bandwidth --max-model-len 4096"
for sw in 0 1; do
  name=prefix-llama3-8b-cascade$sw
  run "$name" 110 env PAGODA_CASCADE_ATTENTION=$sw "$BIN/pagoda-bench" $LLAMA --prefix-workload --prefix-len 1536 \
    --suffix-len 512 --output-len 128 --num-prompts 128 --out "$OUT_DIR/h200-llama3-8b-prefix-caching-cascade$sw.json" \
    --tokens-out "$OUT_DIR/$name.tokens" &&
    echo "   Llama-3-8B PAGODA_CASCADE_ATTENTION=$sw: $(figures "$OUT_DIR/h200-llama3-8b-prefix-caching-cascade$sw.json");" \
      "$(cascade_steps "$name") cascade steps"
done
# Dummy weights make near-ties likely: shown, not a gate.
[ -f "$OUT_DIR/prefix-llama3-8b-cascade1.tokens" ] &&
  echo "   Llama-3-8B dummy (info): $(python3 "$B/compare_tokens.py" "$OUT_DIR/prefix-llama3-8b-cascade0.tokens" \
    "$OUT_DIR/prefix-llama3-8b-cascade1.tokens")"

S=$B/shared
for g in tiny-qwen3 tiny-llama3; do
  for sw in 0 1; do
    run prefix-$g-cascade$sw 40 env PAGODA_CASCADE_ATTENTION=$sw "$BIN/pagoda-bench" --model "$S/models/$g" \
      --device cuda --skip-bandwidth --max-model-len 1024 --prefix-workload --prefix-len 512 --suffix-len 64 \
      --output-len 64 --num-prompts 32 --tokens-out "$OUT_DIR/prefix-$g-cascade$sw.tokens"
  done
  # The float32 CPU backend on the same workload: the reference both GPU runs are held to.
  run prefix-$g-cpu 90 "$BIN/pagoda-bench" --model "$S/models/$g" --device cpu --skip-bandwidth --max-model-len 1024 \
    --prefix-workload --prefix-len 512 --suffix-len 64 --output-len 64 --num-prompts 32 \
    --tokens-out "$OUT_DIR/prefix-$g-cpu.tokens"
  steps=$(cascade_steps prefix-$g-cascade1)
  echo "   $g: ${steps:-0} cascade steps with the switch on"
  [ "${steps:-0}" -gt 0 ] || { echo "   FAIL $g: the cascade path never ran"; status=1; }
  python3 "$B/compare_tokens.py" "$OUT_DIR/prefix-$g-cascade0.tokens" "$OUT_DIR/prefix-$g-cascade1.tokens" \
    $([ -s "$OUT_DIR/prefix-$g-cpu.tokens" ] && echo "$OUT_DIR/prefix-$g-cpu.tokens") || status=1
done

for g in tiny-llama3 tiny-qwen3; do
  run golden-$g-cascade 40 env PAGODA_CASCADE_ATTENTION=1 "$BIN/pagoda-check" \
    "$S/fixtures/golden/$g.golden.json" --model "$S/models/$g" --device cuda
  echo "   golden $g (switch on): $(grep -E "passed" "$OUT_DIR/golden-$g-cascade.log" | tail -1)"
done
finish
