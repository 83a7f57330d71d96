#!/bin/bash
# The README's headline GPU figures and the checks behind them, in one call (~8 min, capped at TOTAL_S,
# default 540): the kernel tests of the default paths (quant_gemm_test, elementwise_kernels_test,
# sample_rows_test and, unless SKIP has "tests", paged_attention_test must pass before anything is timed; then
# paged_attention_wgmma_test, cascade_attention_test and kv_cache_dtype_test on the GPU), every golden through pagoda-check with the defaults (wave2 quantized in bf16,
# tiny-llama3 / tiny-qwen3), batch-1 decode of Llama-3-8B in bf16 / GPTQ / AWQ / FP8 beside each one's floor, the
# 32k and 120k prefills of Llama-3.1-8B, ShareGPT-like 500 in bf16 and FP8, random 1,024 / 1,024 x 1,000 in bf16,
# one layer's decode attention over uneven contexts, and the prefix-caching workload. Dummy
# weights for the 8B shapes. Logs and JSON go to $OUT/figures, tarred into $OUT/figures-logs.tar.gz.
# SKIP="tests b1 prefill sharegpt random prefix" leaves out the attention kernel tests, batch-1 decode, the two
# prefills, the ShareGPT runs, the random workload and the prefix-caching workload (any of them: a call short of
# device time, when their code has not changed since their last figures, or the figures split over two calls).
# B1_FORMATS="gptq-int4 ..." times batch 1 in those formats only (default: all four).
# B1_AB / SHAREGPT_AB / RANDOM_AB="FORMAT:VAR=V[,VAR=V] ...": more batch-1 / ShareGPT / random runs in the same call, each under its
# switches (A/B against the default runs; not in the README's figures); GOLDEN_ENVS="VAR=V[,VAR=V] ..." every golden
# again under each set of switches; TEST_ENVS="VAR=V[,VAR=V] ..." quant_gemm_test again under each (gating).
# SKIP="uneven" leaves out one layer's decode attention over ShareGPT-like uneven
# contexts (cuda_kernel_bench uneven: the plan switches against uniform contexts), SKIP="plans" the host time of a
# cuBLASLt plan for a new m (cuda_kernel_bench plans); SEARCH_M="M ..." every cuBLASLt configuration of the four GEMMs
# at those m (cuda_kernel_bench search); TUNE_EVERY_M="M ..." tune() over every configuration beside the heuristic's
# eight at those m (cuda_kernel_bench tune-every). A bundle with pagoda-bench-before (BEFORE_BENCH) runs ShareGPT and
# random in bf16 with it too.
# Bundle: figures_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/figures_on_device.sh
SCRIPT=figures_on_device LOGS=figures TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/figures-bin && tar xzf "$B/bin.tar.gz" -C /tmp/figures-bin && BIN=/tmp/figures-bin/bin
C=$B/configs
S=$B/shared
export PAGODA_SHARED=$S # quant_gemm_test reads the wave2 checkpoints from it

test_or_stop quant_gemm_test 120 "$BIN/quant_gemm_test"
grep -E "passed" "$OUT_DIR/quant_gemm_test.log" | tail -1
# TEST_ENVS="VAR=V[,VAR=V] ...": quant_gemm_test again under each set of switches, gating as the default run does.
for set in ${TEST_ENVS:-}; do
  name=quant_gemm_test-${set//[=,]/-}
  test_or_stop "$name" 120 env ${set//,/ } "$BIN/quant_gemm_test"
  grep -E "passed" "$OUT_DIR/$name.log" | tail -1
done
# The norms, RoPE + KV write, the step input upload and the sampler run in every timed step: their tests gate too.
test_or_stop elementwise_kernels_test 90 "$BIN/elementwise_kernels_test"
grep -E "passed" "$OUT_DIR/elementwise_kernels_test.log" | tail -1
test_or_stop sample_rows_test 90 "$BIN/sample_rows_test" "$S/models/tiny-llama3"
grep -E "passed" "$OUT_DIR/sample_rows_test.log" | tail -1
# The step timer gives every run's idle time between steps (pairs of timed steps, session 23).
test_or_stop step_timer_test 30 "$BIN/step_timer_test"
grep -E "passed" "$OUT_DIR/step_timer_test.log" | tail -1
# The split norm (PAGODA_SPLIT_NORM=1) against the chain it replaces; not a gate while it is off by default.
if [ -x "$BIN/split_norm_test" ]; then
  run split_norm_test 60 "$BIN/split_norm_test"
  echo "   split_norm_test: $(grep -E "passed" "$OUT_DIR/split_norm_test.log" | tail -1)"
fi
cfg() { [ "$1" = bf16 ] && echo "$C/llama-3-8b.json" || echo "$C/llama-3-8b-$1.json"; } # Llama-3-8B in a format
# A bundle with pagoda-bench-before carries no cuda_kernel_bench: its runs are skipped.
[ -x "$BIN/cuda_kernel_bench" ] || SKIP="${SKIP:-} uneven plans"
# The decode attention kernel runs in every timed step (and changed in session 22): its test gates as well.
if ! skipped tests; then
  test_or_stop paged_attention_test 150 "$BIN/paged_attention_test"
  echo "   paged_attention_test: $(grep -E "passed" "$OUT_DIR/paged_attention_test.log" | tail -1)"
  for t in paged_attention_wgmma_test cascade_attention_test cublaslt_test; do
    run $t 120 "$BIN/$t"
    echo "   $t: $(grep -E "passed" "$OUT_DIR/$t.log" | tail -1)"
  done
  # kv_cache_dtype fp8 on the GPU (issue 15): greedy tokens with fp8 KV = bf16 KV up to the first near-tie on the
  # bundle's tiny checkpoints, twice the blocks, prefix caching and preemption. Not a gate: it times nothing. A
  # bundle made with KERNEL_BENCH=1 carries cuda_kernel_bench in its place.
  if [ -x "$BIN/kv_cache_dtype_test" ]; then
    run kv_cache_dtype_test 120 env PAGODA_CUDA_GEMM_TUNE=0 "$BIN/kv_cache_dtype_test" cuda tiny-llama3 tiny-qwen3
    grep -E "^  (preemption|prefix caching)|passed|FAIL|differs" "$OUT_DIR/kv_cache_dtype_test.log" | head -8 | sed 's/^/   /'
  fi
fi

every_golden
# GOLDEN_ENVS="VAR=V[,VAR=V] ...": every golden again under each set of switches (the new paths' correctness).
for set in ${GOLDEN_ENVS:-}; do
  vars=${set//,/ }
  export $vars
  every_golden "${set//[=,]/-}"
  for v in $vars; do unset "${v%%=*}"; done
done

L="--load-format dummy --device cuda --max-model-len 4096"
skipped b1 || for f in ${B1_FORMATS:-bf16 gptq-int4 awq-int4 fp8-dynamic}; do
  run decode-b1-$f 80 "$BIN/pagoda-bench" --model "$(cfg $f)" $L --batch-size 1 --input-len 512 --output-len 128 \
    --out "$OUT_DIR/$CARD-llama3-8b-$f-decode-b1.json" &&
    echo "   batch-1 $f: $(grep -E "^floor" "$OUT_DIR/decode-b1-$f.log" | head -1)"
done

# "FORMAT:VAR=V[,VAR=V]" (a FORMAT alone reruns the default) -> f, envs (space-separated) and tag (for file names).
# An item that starts with -- is a pagoda-bench flag instead ("bf16:--max-num-seqs=512"): it goes to flags.
ab_parse() {
  f=${1%%:*} envs="" flags=""
  [ "$f" != "$1" ] && envs=${1#*:}
  tag=$f${envs:+-${envs//[=,]/-}}
  tag=${tag//--/}
  local item rest=""
  for item in ${envs//,/ }; do
    if [[ $item == --* ]]; then flags+=" ${item/=/ }"; else rest+=" $item"; fi
  done
  envs=${rest:-PAGODA_AB=1}
}
for ab in ${B1_AB:-}; do
  ab_parse "$ab"
  run decode-b1-ab-$tag 80 env $envs "$BIN/pagoda-bench" --model "$(cfg $f)" $L $flags --batch-size 1 --input-len 512 \
    --output-len 128 --out "$OUT_DIR/$CARD-llama3-8b-$tag-decode-b1-ab.json" &&
    echo "   batch-1 $tag: $(grep -E "^floor" "$OUT_DIR/decode-b1-ab-$tag.log" | head -1)"
done

skipped uneven || { run uneven-decode 90 "$BIN/cuda_kernel_bench" uneven "$B/sharegpt-like.json" &&
  grep -E "batch|given|longest|shallow|uniform" "$OUT_DIR/uneven-decode.log" | sed 's/^/   /'; }
skipped plans || { run gemm-plans 60 "$BIN/cuda_kernel_bench" plans && grep -E "^plans" "$OUT_DIR/gemm-plans.log" | sed 's/^/   /'; }
# SEARCH_M="160 192 224 256": every cuBLASLt configuration for the four Llama-3-8B GEMMs at those m (the decode steps'
# sizes where the H200 is compute-bound, NOTES "Session 35"), 4 s of search a shape and m; needs cuda_kernel_bench.
if [ -n "${SEARCH_M:-}" ] && [ -x "$BIN/cuda_kernel_bench" ]; then
  run gemm-search 150 env PAGODA_SEARCH_BUDGET_S=4 "$BIN/cuda_kernel_bench" search $SEARCH_M &&
    grep -E "^search .* (first|tune-8|#1) " "$OUT_DIR/gemm-search.log" | sed 's/^/   /'
fi

# TUNE_EVERY_M="136 192 256": tune() over the heuristic's eight beside tune() over every configuration (the switch
# PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM) for the four GEMMs at those m, in isolation; needs cuda_kernel_bench.
if [ -n "${TUNE_EVERY_M:-}" ] && [ -x "$BIN/cuda_kernel_bench" ]; then
  run gemm-tune-every 120 "$BIN/cuda_kernel_bench" tune-every $TUNE_EVERY_M &&
    grep -E "^tune-every" "$OUT_DIR/gemm-tune-every.log" | sed 's/^/   /'
fi

P="--model $C/llama-3.1-8b.json --load-format dummy --device cuda --skip-bandwidth --batch-size 1 --output-len 2"
if ! skipped prefill; then
  run prefill-32k 80 "$BIN/pagoda-bench" $P --max-model-len 33024 --input-len 32768 \
    --out "$OUT_DIR/$CARD-llama31-8b-prefill-32k.json" && echo "   32k: $(grep -E "^prefill" "$OUT_DIR/prefill-32k.log")"
  run prefill-120k 110 "$BIN/pagoda-bench" $P --max-model-len 120064 --input-len 120000 \
    --out "$OUT_DIR/$CARD-llama31-8b-prefill-120k.json" && echo "   120k: $(grep -E "^prefill" "$OUT_DIR/prefill-120k.log")"
fi

# Each phase's idle time between steps and its share of the per-step roofline, under a ShareGPT run's line.
sharegpt_phases() { grep -E "^(all steps|decode-only|with prompt)|^  per step" "$1" | sed -E 's/^/     /; s/each step.s bytes.*longer: //'; }
# LIMIT_S NAME OUT_JSON LABEL BENCH ARGS...: one workload run (pagoda-bench, or env VAR=V ... pagoda-bench) on
# Llama-3-8B, then its throughput line, its cuBLASLt plans where it printed them, and its phases.
workload() {
  local limit=$1 name=$2 json=$3 label=$4
  shift 4
  run "$name" "$limit" "$@" $L --out "$OUT_DIR/$json" || return 1
  echo "   $label: $(grep -E "^throughput" "$OUT_DIR/$name.log" | head -1)$(grep -E "^gemm plans" "$OUT_DIR/$name.log" | sed 's/^/; /')"
  sharegpt_phases "$OUT_DIR/$name.log"
}
# SHAREGPT_LIMIT_S: a ShareGPT run's limit (default 100 s; ~20 s of load and ~13 s of run today): raise it for switches
# that make the load longer (PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM, whose unbounded form passed 100 s on an H100).
sharegpt() { workload "${SHAREGPT_LIMIT_S:-100}" "$@" --dataset "$B/sharegpt-like.json" --num-prompts 500; }
# Random 1,024 / 1,024 x 1,000 (issue 20: 80% of its per-step roofline).
random_1k() { workload 200 "$@" --dataset random --random-input-len 1024 --random-output-len 1024 --num-prompts 1000; }

skipped sharegpt || for f in bf16 fp8-dynamic; do
  sharegpt sharegpt-$f "$CARD-llama3-8b-$f-sharegpt-500.json" "ShareGPT $f" "$BIN/pagoda-bench" --model "$(cfg $f)"
done
skipped random || random_1k random-bf16 "$CARD-llama3-8b-random-1024-1024-x1000-kv-auto.json" "random 1,024 x 1,000" \
  "$BIN/pagoda-bench" --model "$(cfg bf16)"

# The bundle's pagoda-bench-before (BEFORE_BENCH when it was made): ShareGPT and random in bf16 as an earlier commit
# runs them, in the same call as the defaults above.
if [ -x "$BIN/pagoda-bench-before" ]; then
  skipped sharegpt || sharegpt sharegpt-bf16-before "$CARD-llama3-8b-bf16-sharegpt-500-before.json" \
    "ShareGPT bf16, before" "$BIN/pagoda-bench-before" --model "$(cfg bf16)"
  skipped random || random_1k random-bf16-before "$CARD-llama3-8b-random-1024-1024-x1000-kv-auto-before.json" \
    "random 1,024 x 1,000, before" "$BIN/pagoda-bench-before" --model "$(cfg bf16)"
fi

# WORKLOAD NAME STEM LABEL "ITEM ...": the workload (sharegpt / random_1k) again under each A/B item (ab_parse).
ab_workloads() {
  local workload=$1 name=$2 stem=$3 label=$4 ab
  for ab in $5; do
    ab_parse "$ab"
    $workload $name-ab-$tag "$CARD-llama3-8b-$tag-$stem-ab.json" "$label $tag" env $envs "$BIN/pagoda-bench" \
      --model "$(cfg $f)" $flags
  done
}
# RANDOM_AB="bf16:--kv-cache-dtype=fp8": issue 15's fp8 KV beside bf16 KV.
ab_workloads random_1k random random-1024-1024-x1000 "random 1,024 x 1,000," "${RANDOM_AB:-}"
ab_workloads sharegpt sharegpt sharegpt-500 ShareGPT "${SHAREGPT_AB:-}"

if ! skipped prefix; then
run prefix-caching 110 "$BIN/pagoda-bench" --model "$C/llama-3-8b.json" $L --skip-bandwidth --prefix-workload \
  --prefix-len 1536 --suffix-len 512 --output-len 128 --num-prompts 128 --out "$OUT_DIR/$CARD-llama3-8b-prefix-caching.json" &&
  echo "   prefix caching: $(python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['figures']; \
print(f\"{f['speedup_output_tokens_per_s']:.2f}x, decode steps {f['step_time']['caching_on']['decode_steps']['ms_per_step']:.2f} ms\")" \
    "$OUT_DIR/$CARD-llama3-8b-prefix-caching.json"); $(grep -oE "caching on: [0-9]+ cascade" "$OUT_DIR/prefix-caching.log")"
fi
finish
