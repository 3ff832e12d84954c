#!/usr/bin/env bash
# engram on a CPU adapter (lavapipe) against the PyTorch peer (bench/torch_peer.py) on the same rows, in one
# locked run: each engram configuration and torch alternate for ROUNDS rounds, and every engram configuration's
# first mismatches must equal torch's (the same answers), else the run fails. engram's warm-up is one batch, so
# that every kernel the timed batches run is compiled before them (llvmpipe compiles on first dispatch, and a
# smaller warm-up batch runs other tile variants).
#   MODEL=DIR DATA=PREFIX [COUNT=64] [BATCH=64] [ROUNDS=2] [CONFIGS="--untuned|--variant d64x64-8x16"] \
#     OUT=folder bash bench/cpu_peer.sh
# A configuration "@TREE args" runs TREE/cli.ts (another checkout, e.g. the commit before a change) instead of
# this tree's.
# Make a pythia-70m-shaped model and its rows first:
#   /usr/bin/python3 bench/torch_peer.py --make 70m --model DIR --data PREFIX --count 256
set -euo pipefail
: "${MODEL:?MODEL=checkpoint folder}" "${DATA:?DATA=Megatron prefix}" "${OUT:?OUT=folder for results}"
COUNT=${COUNT:-64} BATCH=${BATCH:-64} ROUNDS=${ROUNDS:-2}
CONFIGS=${CONFIGS:-"--untuned|--variant d64x64-8x16"}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
IFS='|' read -r -a configs <<<"$CONFIGS"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) × $(nproc) cores; $(uptime)" | tee "$OUT/run.txt"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!configs[@]}"; do
    cli=cli.ts args=${configs[$i]}
    if [[ $args == @* ]]; then cli=${args%% *} cli=${cli#@}/cli.ts args=${args#* }; [[ $args == @* ]] && args=""; fi
    # shellcheck disable=SC2086
    deno run -A "$cli" bench --model "$MODEL" --data "$DATA" --count "$COUNT" --batch "$BATCH" \
      --warmup "$BATCH" --format json --save "$OUT/engram-$i-$r.rows.json" \
      $args >"$OUT/engram-$i-$r.json"
    echo "round $r engram [${configs[$i]}]: $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/run.txt"
  done
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_peer.py --model "$MODEL" --data "$DATA" --count "$COUNT" \
    --batch "$BATCH" --threads "$(nproc)" --out "$OUT/torch-$r.json" | tee -a "$OUT/run.txt"
done
/usr/bin/python3 - "$OUT" "$ROUNDS" "${#configs[@]}" "$CONFIGS" <<'PY'
import json, statistics, sys
out, rounds, n, configs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split("|")
torch = [json.load(open(f"{out}/torch-{r}.json")) for r in range(1, rounds + 1)]
tkv = statistics.median(t["kv"]["seq_per_s"] for t in torch)
tte = statistics.median(t["teacher"]["seq_per_s"] for t in torch)
truth = torch[0]["kv"]["first_mismatch"]
assert all(t["kv"]["first_mismatch"] == truth == t["teacher"]["first_mismatch"] for t in torch)
print(f"torch {torch[0]['torch']}, {torch[0]['threads']} threads, linears through {torch[0].get('linear', 'onednn')}: KV greedy {tkv:.1f} rows/s, teacher-forced {tte:.1f}")
for i in range(n):
    runs = [json.load(open(f"{out}/engram-{i}-{r}.json")) for r in range(1, rounds + 1)]
    for r in range(1, rounds + 1):
        saved = json.load(open(f"{out}/engram-{i}-{r}.rows.json"))["first_mismatch"]
        for mode, fm in saved.items():
            assert fm == truth, f"engram [{configs[i]}] {mode} round {r} differs from torch"
    sc = statistics.median(x["modes"]["score"]["seq_per_s"] for x in runs)
    ex = statistics.median(x["modes"]["extractable"]["seq_per_s"] for x in runs)
    print(f"engram [{configs[i]}] ({', '.join(runs[0]['variants'])}): score {sc:.1f} rows/s ({sc / tkv:.2f}x torch KV), "
          f"extractable {ex:.1f} ({ex / tte:.2f}x torch teacher-forced); same first mismatches as torch on every row")
PY
