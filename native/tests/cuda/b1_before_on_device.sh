#!/bin/bash
# Batch-1 bf16 with an earlier pagoda-bench (pagoda-bench-before.gz, COMMIT_BEFORE in the bundle) and the bundle's,
# alternated, on one card (session 29's 3% question), then the 32k / 120k prefills at the bundle's defaults. Each JSON
# lands in $OUT as soon as it is made. Bundle: the prefill bundle (prefill_bundle_for_device.sh) with
# configs/llama-3-8b.json, pagoda-bench-before.gz and COMMIT_BEFORE added (PENDING.md says how).
# Usage: OUT=/some/dir bash BUNDLE/b1_before_on_device.sh
P=$(cd "$(dirname "$0")" && pwd)
mkdir -p /tmp/b && tar xzf "$P/bin.tar.gz" -C /tmp/b && gunzip -c "$P/pagoda-bench-before.gz" > /tmp/b/before && chmod +x /tmp/b/before
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader
L="--model $P/configs/llama-3-8b.json --load-format dummy --device cuda --max-model-len 4096 --batch-size 1 --input-len 512 --output-len 128"
for r in now before now before; do
  b=/tmp/b/bin/pagoda-bench; c=$(cat "$P/COMMIT"); [ $r = before ] && b=/tmp/b/before && c=$(cat "$P/COMMIT_BEFORE")
  PAGODA_GIT_COMMIT=$c timeout 40 $b $L --out "$OUT/b1-$r-$(date +%s).json" > /tmp/b1.log 2>&1; echo "$r: $(grep -E '^floor' /tmp/b1.log | head -1)"
done
C="--model $P/configs/llama-3.1-8b.json --load-format dummy --device cuda --skip-bandwidth --batch-size 1 --output-len 2"
export PAGODA_GIT_COMMIT=$(cat "$P/COMMIT")
timeout 60 /tmp/b/bin/pagoda-bench $C --max-model-len 120064 --input-len 120000 --out "$OUT/prefill-120k.json" | grep -E "^prefill"
timeout 30 /tmp/b/bin/pagoda-bench $C --max-model-len 33024 --input-len 32768 --out "$OUT/prefill-32k.json" | grep -E "^prefill"
