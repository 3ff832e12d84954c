#!/usr/bin/env bash
# One device call on the lent GPU machine (see ../shared/device/README.md): goldens, pico reference check, then
# engram vs Hugging Face on Pythia-shaped random checkpoints (160m, 1b), same rows, side by side.
#   device tool: carry [".gpu"], command: source .gpu/env.sh; bash bench/gpu.sh
# Writes logs and JSON under $OUT and prints the table last.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export XDG_RUNTIME_DIR=/tmp NO_COLOR=1
DENO="deno run --no-npm -A"
step() { echo "== $(date +%T) $*"; }
N160=${N160:-4096}; N1B=${N1B:-2048}; REF_ROWS=${REF_ROWS:-2048}

step "adapter"; $DENO cli.ts info > "$OUT/info.json" 2>&1; head -c 400 "$OUT/info.json"; echo
step "golden tests"; timeout 120 deno test --no-npm -A tests/golden_test.ts > "$OUT/golden.log" 2>&1; tail -3 "$OUT/golden.log"
step "pico reference"; timeout 120 $DENO bench/check_reference.ts $REF_ROWS > "$OUT/reference.jsonl" 2>&1; cat "$OUT/reference.jsonl"

for size in 160m 1b; do
  n=$N160; [ "$size" = 1b ] && n=$N1B
  step "make $size"; timeout 150 python3 .gpu/pythia.py make-model --size $size --out /tmp/m/$size > "$OUT/make-$size.log" 2>&1
  timeout 120 python3 .gpu/pythia.py make-data --model /tmp/m/$size --n $n --out /tmp/d/$size >> "$OUT/make-$size.log" 2>&1
  tail -2 "$OUT/make-$size.log"
  step "engram bench $size"
  timeout 240 $DENO cli.ts bench --model /tmp/m/$size --data /tmp/d/$size --count $n --kernels --format json \
    --save "$OUT/engram-$size.rows.json" > "$OUT/engram-$size.json" 2> "$OUT/engram-$size.err"
  tail -c 600 "$OUT/engram-$size.err"; head -c 300 "$OUT/engram-$size.json"; echo
  step "hf bench $size"
  timeout 200 python3 .gpu/pythia.py bench --model /tmp/m/$size --data /tmp/d/$size --n $n --batch 1024 \
    --out "$OUT/hf-$size.json" > "$OUT/hf-$size.log" 2>&1; tail -3 "$OUT/hf-$size.log"
  if [ "$size" = 160m ]; then
    # HF in fp32 (no TF32) on the same rows: engram computes in f32, so this is the like-for-like agreement check.
    step "hf fp32 kv $size"
    timeout 100 python3 .gpu/pythia.py bench --model /tmp/m/$size --data /tmp/d/$size --n $n --batch 1024 \
      --dtype float32 --modes kv --out "$OUT/hf32-$size.json" > "$OUT/hf32-$size.log" 2>&1; tail -1 "$OUT/hf32-$size.log"
  fi
done
step "table"; python3 bench/compare.py "$OUT"
