#!/bin/bash
# PAGODA_DECODE_FUSED_ROPE (rope + KV-cache write inside the decode attention kernel) on the device in one call
# (~3-4 min, capped at TOTAL_S, default 270; a step starts only while it can end by then), in order: fused_rope_decode_test (fused vs rope_neox +
# kv_cache_write + paged_attention_decode bit for bit, float64 reference, PDL chain; must pass before anything
# is timed; on failure compute-sanitizer memcheck on it), the same test against a mutant kernel (the new K/V written
# after the tile loads: must fail) and the CPU decision test; tiny-llama3 and tiny-qwen3
# (qk_norm before rope) goldens through pagoda-check with the switch on (graphs, and tiny-llama3 eager too);
# batch-1 decode of Llama-3-8B bf16 and GPTQ int4 (dummy weights, figures_on_device.sh's decode-b1 line) with
# the switch 0 then 1, then 1 then 0 again (drift shows); bf16 with the switch on and
# PAGODA_CUDA_SKIP_OPS=attention_decode (what the fused kernel costs a step) and with the switch off and
# rope,kv_cache_write,attention_decode left out (what the three ops it replaces cost, same call); last, if time
# is left, elementwise_kernels_test and a tiny-llama3 golden with the switch off (rope.cu's roundings, wt/ropefix),
# paged_attention_test (the default decode kernel, whose signature grew a parameter).
# Logs go to $OUT/fusedrope, tarred into $OUT/fusedrope-logs.tar.gz.
# Bundle: fusedrope_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/fusedrope_on_device.sh
SCRIPT=fusedrope_on_device LOGS=fusedrope TOTAL_S=${TOTAL_S:-270}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/fusedrope-bin && tar xzf "$B/bin.tar.gz" -C /tmp/fusedrope-bin && BIN=/tmp/fusedrope-bin/bin
C=$B/configs
S=$B/shared
unset PAGODA_DECODE_FUSED_ROPE PAGODA_CUDA_SKIP_OPS

test_or_stop fused_rope_decode_test 100 "$BIN/fused_rope_decode_test"
echo "   $(grep -E "passed" "$OUT_DIR/fused_rope_decode_test.log" | tail -1);" \
  "bit-for-bit lines $(grep -c "bit for bit" "$OUT_DIR/fused_rope_decode_test.log")," \
  "float64 lines $(grep -c "float64" "$OUT_DIR/fused_rope_decode_test.log")"
grep -E "PDL chain|mutant" "$OUT_DIR/fused_rope_decode_test.log"
# The same test against a kernel that writes the new K/V after its tile loads (PAGODA_FUSED_ROPE_MUTANT=2): it
# must fail, or the test cannot see the ordering it is there for.
before_mutant=$status
if run fused_rope_decode_test_mutant 100 "$BIN/fused_rope_decode_test_mutant"; then
  echo "!! the mutant kernel passed the test: the test does not catch a read before the write"
  status=1
else
  echo "   mutant (write after the loads) fails as it must: $(grep -cE "^FAIL" "$OUT_DIR/fused_rope_decode_test_mutant.log") FAIL lines," \
    "$(grep -E "passed" "$OUT_DIR/fused_rope_decode_test_mutant.log" | tail -1)"
  status=$before_mutant # its failure is the expected outcome
fi
run fused_rope_decision_test 10 "$BIN/fused_rope_decision_test" && tail -1 "$OUT_DIR/fused_rope_decision_test.log"

for m in tiny-llama3 tiny-qwen3; do
  run golden-$m-fused 40 env PAGODA_DECODE_FUSED_ROPE=1 "$BIN/pagoda-check" "$S/fixtures/golden/$m.golden.json" \
    --model "$S/models/$m" --device cuda
  echo "   golden $m fused: $(grep -E "passed" "$OUT_DIR/golden-$m-fused.log" | tail -1);" \
    "$(grep -c "fused rope decode: taken" "$OUT_DIR/golden-$m-fused.log") 'taken' line(s)"
done
run golden-tiny-llama3-fused-eager 40 env PAGODA_DECODE_FUSED_ROPE=1 PAGODA_CUDA_GRAPHS=0 "$BIN/pagoda-check" \
  "$S/fixtures/golden/tiny-llama3.golden.json" --model "$S/models/tiny-llama3" --device cuda
echo "   golden tiny-llama3 fused eager: $(grep -E "passed" "$OUT_DIR/golden-tiny-llama3-fused-eager.log" | tail -1)"

L="--load-format dummy --device cuda --max-model-len 4096 --batch-size 1 --input-len 512 --output-len 128"
bench() { # NAME CONFIG ENV...: one batch-1 run, its decode and floor lines
  local name=$1 cfg=$2
  shift 2
  run "$name" 45 env "$@" "$BIN/pagoda-bench" --model "$cfg" $L --out "$OUT_DIR/$name.json" &&
    echo "   $name: $(grep -E "^decode" "$OUT_DIR/$name.log" | head -1) | $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
}
for f in bf16 gptq-int4; do
  cfg=$C/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$C/llama-3-8b.json
  bench decode-b1-$f-fused0 "$cfg" PAGODA_DECODE_FUSED_ROPE=0
  bench decode-b1-$f-fused1 "$cfg" PAGODA_DECODE_FUSED_ROPE=1
done
bench decode-b1-bf16-fused1-skip-attention "$C/llama-3-8b.json" PAGODA_DECODE_FUSED_ROPE=1 \
  PAGODA_CUDA_SKIP_OPS=attention_decode
bench decode-b1-bf16-fused0-skip-three "$C/llama-3-8b.json" PAGODA_DECODE_FUSED_ROPE=0 \
  PAGODA_CUDA_SKIP_OPS=rope,kv_cache_write,attention_decode
for f in gptq-int4 bf16; do # the pair again, the other way round
  cfg=$C/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$C/llama-3-8b.json
  bench decode-b1-$f-fused1-again "$cfg" PAGODA_DECODE_FUSED_ROPE=1
  bench decode-b1-$f-fused0-again "$cfg" PAGODA_DECODE_FUSED_ROPE=0
done
# rope_neox.cuh's explicit roundings changed rope.cu on the default path too (wt/ropefix): its float64 test and a
# golden with the switch off.
run elementwise_kernels_test 20 "$BIN/elementwise_kernels_test" && grep -E "rope_neox|passed" "$OUT_DIR/elementwise_kernels_test.log" | tail -4
run golden-tiny-llama3-off 30 "$BIN/pagoda-check" "$S/fixtures/golden/tiny-llama3.golden.json" \
  --model "$S/models/tiny-llama3" --device cuda
echo "   golden tiny-llama3 switch off: $(grep -E "passed" "$OUT_DIR/golden-tiny-llama3-off.log" | tail -1)"
run paged_attention_test 100 "$BIN/paged_attention_test" &&
  echo "   paged_attention_test: $(grep -E "passed" "$OUT_DIR/paged_attention_test.log" | tail -1)"
finish
