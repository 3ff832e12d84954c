#!/bin/bash
# Slurm job array: scores training rows in N contiguous shards (`cli.ts score --shard i/N`), one GPU per task,
# then `merge` joins the shard files. From the engram checkout:
#
#   mkdir -p logs
#   sbatch --array=0-63 scripts/slurm-score.sh --model /ckpt/pythia-1b/step143000 --data /data/pythia/document \
#     --step 143000 --out out/shards
#   # when every task is done:
#   ./engram merge --out out/scores/pythia-1b@step143000.parquet \
#     out/shards/pythia-1b@step143000.shard-*-of-64.parquet
#
# - The arguments are score's (`./engram score --help`); the script adds --shard TASK/N, where N is the
#   array's size (--array=0-63 gives 64 shards). Submitting part of an array again (--array=17,40) needs SHARDS=64.
# - A task that is preempted, cancelled or killed resumes from its journal (<shard file>.partial) when it is
#   requeued (`scontrol requeue JOBID_TASK`) or submitted again with the same arguments: rows already scored are
#   not scored again, and the shard file is the same as an uninterrupted run's. Logs are appended (--open-mode),
#   so a task's log shows every attempt.
# - Options given to sbatch override the #SBATCH lines below: partition, GPUs, CPUs and time are site-specific.
# - The job runs deno from $DENO (default: deno on the job's PATH) and cli.ts from $ENGRAM (default: the folder
#   sbatch was run in). tests/slurm_test.ts runs this script on a one-node Slurm cluster.
#SBATCH --job-name=engram-score
#SBATCH --array=0-63
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=24:00:00
#SBATCH --output=logs/engram-%A_%a.log
#SBATCH --open-mode=append
#SBATCH --requeue
set -euo pipefail
fail() {
  echo "slurm-score.sh: $*" >&2
  exit 1
}
[ -n "${SLURM_ARRAY_TASK_ID:-}" ] || fail "not an array task: submit with sbatch --array=0-(N-1) $0 SCORE_ARGS..."
[ $# -gt 0 ] || fail "no score arguments (--model, --data, rows, --out): see ./engram score --help"
if [ -n "${SHARDS:-}" ]; then
  n=$SHARDS
elif [ "${SLURM_ARRAY_TASK_MIN:-}" = 0 ] && [ "${SLURM_ARRAY_TASK_MAX:-}" = $((${SLURM_ARRAY_TASK_COUNT:-0} - 1)) ]; then
  n=$SLURM_ARRAY_TASK_COUNT
else
  fail "array ${SLURM_ARRAY_TASK_MIN:-?}..${SLURM_ARRAY_TASK_MAX:-?} is not 0..N-1: set SHARDS=N (the job's shard count)"
fi
deno=${DENO:-$(command -v deno || true)}
[ -x "$deno" ] || fail "no deno: put it on the job's PATH or set DENO=/path/to/deno"
cli=${ENGRAM:-${SLURM_SUBMIT_DIR:-.}}/cli.ts
[ -f "$cli" ] || fail "no $cli: run sbatch in the engram checkout or set ENGRAM=/path/to/engram"
echo "slurm-score.sh: shard $SLURM_ARRAY_TASK_ID/$n, job $SLURM_JOB_ID, restart ${SLURM_RESTART_COUNT:-0}, on $(hostname)" >&2
# exec: Slurm's signals (scancel, preemption, time limit) reach deno itself.
exec "$deno" run -A "$cli" score "$@" --shard "$SLURM_ARRAY_TASK_ID/$n"
