"""Side-by-side table of bench/gpu.sh's results: rows/s of engram and HF on the same rows, and whether both
found the same memorized rows. Usage: python3 bench/compare.py OUT_DIR"""
import json, os, sys
import numpy as np

out = sys.argv[1]
print("| shape | card | HF eleuther | HF kv | HF teacher | engram score | engram extractable | memorized (engram / HF kv / HF teacher) | rows differing from HF fp16 kv | from HF fp32 kv |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for size in ("160m", "1b"):
    try:
        e = json.load(open(f"{out}/engram-{size}.json")); h = json.load(open(f"{out}/hf-{size}.json"))
        rows = json.load(open(f"{out}/engram-{size}.rows.json"))["first_mismatch"]
    except Exception as ex:  # a step failed: say so and go on
        print(f"| {size} | missing results: {ex} |"); continue
    em = e["modes"]; hm = h["modes"]
    ours = np.array(rows["score"]) == 32
    kv = np.load(f"{out}/hf-{size}.kv.npy") == 1.0
    teacher = np.load(f"{out}/hf-{size}.teacher.npy") == 1.0
    n = min(len(ours), len(kv))
    diff = int((ours[:n] != kv[:n]).sum())
    ext = np.array(rows.get("extractable", rows["score"])) == 32
    try:
        kv32 = np.load(f"{out}/hf32-{size}.kv.npy") == 1.0
        diff32 = str(int((ours[:len(kv32)] != kv32[:len(ours)]).sum())) + f" (HF fp32 memorized {int(kv32.sum())})"
    except Exception:
        diff32 = "-"
    f = lambda d, k: f"{d[k]['seq_per_s']:.0f}" if k in d else "-"
    print(f"| pythia-{size} | {h['gpu']} | {f(hm, 'eleuther')} | {f(hm, 'kv')} | {f(hm, 'teacher')} | {f(em, 'score')} | "
          f"{f(em, 'extractable')} | {int(ours.sum())} / {int(kv.sum())} / {int(teacher.sum())} | {diff} (extractable≠score: {int((ext != ours).sum())}) | {diff32} |")
    for k in e.get("kernels", []):
        print(f"|   kernel {k['name']} [{k['m']}x{k['k']}]x[{k['n']}x{k['k']}] | | | | | {k['gflop_per_s']:.0f} GFLOP/s | | | |")
