"""The tables of bench/gpu.sh's results (numpy only: the GPU machine's Python, or any).

  python3 bench/compare.py OUT_DIR [sizes...]        engram vs HF on the same rows, memorized-set agreement,
                                                     and per shape the tuned kernel vs the untuned one
  python3 bench/compare.py --stand-in OUT_DIR size   dry runs without PyTorch: writes hf-<size>.json and .npy
                                                     from engram's own rows, marked as a stand-in (never a
                                                     measurement), so every step of gpu.sh can be rehearsed
Writes OUT_DIR/kernels-<size>.md: every variant's GFLOP/s per shape (the kernel table per variant)."""
import json, sys
import numpy as np


def load(path):
    with open(path) as f:
        return json.load(f)


def memorized(out, name, size):
    """engram's memorized rows (first mismatch = 32) per mode, from bench --save."""
    rows = load(f"{out}/{name}-{size}.rows.json")["first_mismatch"]
    return {mode: np.array(v) == 32 for mode, v in rows.items()}


def stand_in(out, size):
    ours = memorized(out, "engram", size)
    np.save(f"{out}/hf-{size}.kv.npy", ours["score"].astype(np.float64))
    np.save(f"{out}/hf-{size}.teacher.npy", ours["extractable"].astype(np.float64))
    modes = {m: {"seq_per_s": float("nan"), "memorized": int(ours[k].sum())} for m, k in (("kv", "score"), ("teacher", "extractable"))}
    json.dump({"gpu": "DRY RUN: stand-in for HF, not a measurement", "modes": modes}, open(f"{out}/hf-{size}.json", "w"))
    print(f"hf-{size}: stand-in written (dry run)")


def rate(modes, k):
    v = modes.get(k, {}).get("seq_per_s")
    return "-" if v is None or v != v else f"{v:,.0f}"


def rows_table(out, sizes):
    print("| shape | card | engram score | engram extractable | untuned score | untuned extractable | HF fp16 kv | HF teacher "
          "| memorized (engram / HF kv / HF teacher) | rows differing from HF kv | extractable ≠ score |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        try:
            e = load(f"{out}/engram-{size}.json")
            h = load(f"{out}/hf-{size}.json")
            ours = memorized(out, "engram", size)
            kv = np.load(f"{out}/hf-{size}.kv.npy") == 1.0
            teacher = np.load(f"{out}/hf-{size}.teacher.npy") == 1.0
        except Exception as ex:  # a step failed: say so and go on
            print(f"| pythia-{size} | missing results: {ex} |")
            continue
        try:
            u = load(f"{out}/untuned-{size}.json")["modes"]
        except Exception:
            u = {}
        score = ours["score"]
        n = min(len(score), len(kv))
        diff = int((score[:n] != kv[:n]).sum())
        ext = ours.get("extractable", score)
        print(f"| pythia-{size} ({n} rows, batch {e['modes']['score']['batch']}) | {h['gpu']} | {rate(e['modes'], 'score')} | "
              f"{rate(e['modes'], 'extractable')} | {rate(u, 'score')} | {rate(u, 'extractable')} | {rate(h['modes'], 'kv')} | "
              f"{rate(h['modes'], 'teacher')} | {int(score.sum())} / {int(kv.sum())} / {int(teacher.sum())} | {diff} | "
              f"{int((ext != score).sum())} |")


def kernel_tables(out, sizes, ceiling):
    print(f"\n| shape | M×N×K | weights | tuned variant | TFLOP/s | of {ceiling:g} | untuned variant | TFLOP/s | tuned / untuned |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        try:
            report = load(f"{out}/tune-{size}.json")
        except Exception as ex:
            print(f"| pythia-{size} | missing tuning report: {ex} |")
            continue
        lines = [f"# pythia-{size}: every variant per shape ({report.get('described', report.get('adapter'))}, batch {report['batch']})\n"]
        for r in report["shapes"]:
            s, best, default = r["shape"], r["best"], r["default"]
            timed = f" (timed at M = {r['timedM']})" if r["timedM"] < s["m"] else ""
            print(f"| {size} {s['name']} | {s['m']}×{s['n']}×{s['k']}{timed} | {s['format']} | {best['variant']} | "
                  f"{best['gflops'] / 1e3:.1f} | {best['gflops'] / 1e3 / ceiling:.0%} | {default['variant']} | "
                  f"{default['gflops'] / 1e3:.1f} | {best['gflops'] / default['gflops']:.2f}× |")
            lines.append(f"\n## {s['name']} {s['m']}×{s['n']}×{s['k']}{timed}\n\n| variant | TFLOP/s | ms |\n| --- | --- | --- |")
            lines += [f"| {t['variant']} | {t['gflops'] / 1e3:.2f} | {t['seconds'] * 1e3:.2f} |" for t in r["timings"]]
        with open(f"{out}/kernels-{size}.md", "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--stand-in":
        stand_in(args[1], args[2])
    else:
        out, sizes = args[0], args[1:] or ["1b", "12b"]
        rows_table(out, sizes)
        kernel_tables(out, sizes, float(__import__("os").environ.get("CEILING", 47)))
