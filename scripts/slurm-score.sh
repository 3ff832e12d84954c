#!/bin/bash
# Example Slurm job array: score the Pythia training data in 64 contiguous shards, one GPU each, then merge.
#   sbatch scripts/slurm-score.sh            (then, when all tasks are done:)
#   deno run -A cli.ts merge --out out/scores/pythia-1b@step143000.parquet out/shards/pythia-1b@step143000.shard-*-of-64.parquet
# A task that is preempted or killed can simply be resubmitted: it resumes from its journal.
#SBATCH --job-name=engram-score
#SBATCH --array=0-63
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=24:00:00
#SBATCH --output=logs/engram-%A_%a.log
#SBATCH --requeue
set -euo pipefail
MODEL=${MODEL:-/checkpoints/pythia-1b/step143000}
DATA=${DATA:-/data/pythia/document}
STEP=${STEP:-143000}
deno run -A cli.ts score --model "$MODEL" --data "$DATA" --step "$STEP" --mode "${MODE:-score}" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT:-64}" --out out/shards --quiet
