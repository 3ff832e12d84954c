#!/usr/bin/env bash
# One device call on the lent GPU machine (see ../shared/device/README.md), 6-8 minutes on an H200 (estimated):
#   0. the card's f32 FMA ceiling through WGSL (../shared/device/peak.ts), which the kernel table divides by;
#   1. exactness on the card: golden tests, every matmul tile variant bit for bit (tests/kernels_test.ts), the
#      pico reference (scores, extractable = score, batch independence) — while PyTorch makes the random
#      Pythia-shaped pythia-1b and pythia-12b checkpoints and their rows in the background (nothing is timed yet);
#   2. per model: `cli.ts tune` at its shapes (every variant's GFLOP/s per shape: the kernel table), engram
#      score and extractable rows/s with the tuned variants, HF transformers (fp16 KV greedy, teacher-forced) on
#      the same rows; then pythia-1b untuned, for the before/after;
#   3. the table (bench/compare.py), last. Everything lands in $OUT; $OUT/tuning.json is the card's table for
#      shaders/tuning.json.
# On the GPU machine (device tool, carry [".gpu"], timeout_s 600):  source .gpu/env.sh; bash bench/gpu.sh
# Dry run of every step here (lavapipe with the GPU kernel family, pico checkpoints, HF replaced by a stand-in):
#   DRY=1 OUT=/work/scratch/engine/gpu-dry bash bench/gpu.sh
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=/tmp NO_COLOR=1
DENO="deno run --no-npm -A"
T0=$(date +%s)
step() { echo "== $(($(date +%s) - T0))s $*"; }
DRY=${DRY:-0}
N1B=${N1B:-2048} N12B=${N12B:-256} B1B=${B1B:-1024} B12B=${B12B:-256} REF_ROWS=${REF_ROWS:-256}
CEILING=${CEILING:-47} # TFLOP/s: f32 FMA through WGSL on an H200 (../shared/device/peak.ts)
TUNING="$OUT/tuning.json"
rm -f "$TUNING"

if [ "$DRY" = 1 ]; then
  M1B=fixtures/pico/models/pico-3/step1092 M12B=fixtures/pico/models/pico-2/step1092
  D1B=fixtures/pico/data/pico_document D12B=fixtures/pico/data/pico_document
  N1B=64 N12B=32 B1B=32 B12B=16 REF_ROWS=16 PEAK=${PEAK:-/work/shared/device/peak.ts} PEAK_SCALE=0.01
  # The steps' time limits, stretched: on 2 cores shared by several sessions, lavapipe compiling and timing
  # tune's 38 variants at each of 9 shapes ran past the card's 150 s (2026-12-07).
  TS=${TS:-4}
  # The kernels the card will run (the tiled family), briefly timed.
  TUNE_OPTS=(--kernel-family gpu --timing-ms 5) BENCH_OPTS=(--kernel-family gpu)
else
  M1B=/tmp/m/1b M12B=/tmp/m/12b D1B=/tmp/d/1b D12B=/tmp/d/12b PEAK=.gpu/peak.ts PEAK_SCALE=4 TS=1
  TUNE_OPTS=() BENCH_OPTS=()
  PY="python3 .gpu/pythia.py"
  (
    timeout 120 $PY make-model --size 1b --out $M1B && timeout 90 $PY make-data --model $M1B --n "$N1B" --out $D1B
    timeout 200 $PY make-model --size 12b --out $M12B && timeout 120 $PY make-data --model $M12B --n "$N12B" --out $D12B
  ) > "$OUT/make.log" 2>&1 &
  MAKER=$!
fi

step "adapter"
$DENO cli.ts info > "$OUT/info.json" 2>&1
head -c 300 "$OUT/info.json"
echo
if [ -f "$PEAK" ]; then
  step "the card's f32 FMA ceiling through WGSL (peak.ts)"
  timeout $((60 * TS)) $DENO "$PEAK" "$PEAK_SCALE" > "$OUT/peak.jsonl" 2>&1
  cat "$OUT/peak.jsonl"
  # Three significant digits: at one decimal lavapipe's 0.047 TFLOP/s became 0.0, which tune refuses.
  CEILING=$(python3 -c "import json,sys; print(float('%.3g' % next(json.loads(l)['tflops'] for l in open(sys.argv[1]) if '\"f32\"' in l)))" "$OUT/peak.jsonl" 2>/dev/null || echo "$CEILING")
fi
export CEILING
step "exactness: golden tests, every tile variant bit for bit"
# The device has no registry: these tests and everything they import, type-only imports included, use no npm
# package (scoring/memorization.ts no longer imports io/). A run that tests nothing says so.
timeout $((200 * TS)) deno test --no-npm -A tests/golden_test.ts tests/kernels_test.ts > "$OUT/exactness.log" 2>&1
grep -E "FAILED|passed" "$OUT/exactness.log" | tail -5
grep -qE "[1-9][0-9]* passed" "$OUT/exactness.log" || echo "exactness: NO TEST RAN; see exactness.log"
step "exactness: pico reference ($REF_ROWS rows × 12 checkpoints)"
timeout $((120 * TS)) $DENO bench/check_reference.ts "$REF_ROWS" > "$OUT/reference.jsonl" 2>&1
tail -n 13 "$OUT/reference.jsonl"
if [ "$DRY" != 1 ]; then
  step "waiting for the checkpoints"
  wait "$MAKER"
  tail -n 6 "$OUT/make.log"
fi

bench_engram() { # size model data rows batch name [bench options]
  local size=$1 model=$2 data=$3 rows=$4 batch=$5 name=$6
  shift 6
  timeout $((240 * TS)) $DENO cli.ts bench --model "$model" --data "$data" --count "$rows" --batch "$batch" \
    --warmup $((batch < rows ? batch : rows / 2)) --format json --save "$OUT/$name-$size.rows.json" \
    ${BENCH_OPTS[@]+"${BENCH_OPTS[@]}"} "$@" \
    > "$OUT/$name-$size.json" 2> "$OUT/$name-$size.err"
  tail -c 400 "$OUT/$name-$size.err"
  head -c 400 "$OUT/$name-$size.json"
  echo
}

for size in 1b 12b; do
  if [ "$size" = 1b ]; then m=$M1B d=$D1B n=$N1B b=$B1B; else m=$M12B d=$D12B n=$N12B b=$B12B; fi
  [ -f "$m/config.json" ] || {
    step "pythia-$size: no checkpoint (see make.log)"
    continue
  }
  step "tune pythia-$size (batch $b)"
  timeout $((150 * TS)) $DENO cli.ts tune --model "$m" --batch "$b" --tuning "$TUNING" --report "$OUT/tune-$size.json" \
    --ceiling "$CEILING" ${TUNE_OPTS[@]+"${TUNE_OPTS[@]}"} > "$OUT/tune-$size.txt" 2> "$OUT/tune-$size.log"
  cat "$OUT/tune-$size.txt"
  tail -n 1 "$OUT/tune-$size.log"
  step "engram pythia-$size, $n rows, tuned"
  bench_engram "$size" "$m" "$d" "$n" "$b" engram --tuning "$TUNING"
  step "HF pythia-$size"
  if [ "$DRY" = 1 ]; then
    python3 bench/compare.py --stand-in "$OUT" "$size"
  else
    timeout 150 $PY bench --model "$m" --data "$d" --n "$n" --batch "$b" --modes kv,teacher \
      --out "$OUT/hf-$size.json" > "$OUT/hf-$size.log" 2>&1
    tail -n 2 "$OUT/hf-$size.log"
  fi
done
# Optional, so that the table still prints inside the device call's 600 s.
if [ $(($(date +%s) - T0)) -lt "${UNTUNED_BEFORE_S:-$((420 * TS))}" ] && [ -f "$M1B/config.json" ]; then
  step "engram pythia-1b untuned (the defaults, for the before/after)"
  bench_engram 1b "$M1B" "$D1B" "$N1B" "$B1B" untuned --untuned
else
  step "skipping pythia-1b untuned (time)"
fi

step "table (done in $(($(date +%s) - T0)) s)"
python3 bench/compare.py "$OUT" 1b 12b
