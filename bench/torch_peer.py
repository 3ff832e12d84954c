"""The PyTorch peer for `cli.ts bench` on CPU adapters: a GPT-NeoX (Pythia) forward pass written by hand in plain
PyTorch (float32, no transformers), timed on the same rows engram scores.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_peer.py --model DIR --data PREFIX --count 256 \\
      [--start 0] [--batch 256] [--threads 2] [--out FILE.json]
  /usr/bin/python3 bench/torch_peer.py --make 70m --model DIR --data PREFIX --count 256

--make SIZE writes a random-weight Pythia-shaped checkpoint (fp16 safetensors, Pythia's config.json) and
--count rows of 64 tokens: random 32-token prompts each followed by this model's own greedy continuation,
corrupted at a first-mismatch position drawn from the distribution of a trained model (as
../shared/device/pythia.py make-data does on a GPU with transformers), so early exit meets a realistic
survival curve.

Modes, each after a warm-up batch, load excluded:
  kv       greedy decoding of the 32 continuation tokens with a KV cache (what engram's score mode answers;
           no early exit);
  teacher  one teacher-forced pass over the 64 tokens, argmax at each continuation position (what engram's
           extractable mode answers; no early exit either).
Both write each row's first mismatch (0..31, 32 = none), which must equal engram's (`bench --save`), so the
rows/s compare the same answers. Argmax ties go to the lowest index, as torch.argmax does and as engram does.

Matrix products go through whichever of torch's two CPU GEMM paths is faster here (--linear auto times both on
a product of the unembedding's shape; the JSON records the choice): torch.nn.functional.linear, which Debian's
torch 1.13 (BLAS_INFO=generic) sends to the system's libblas.so.3 — ~3 GFLOP/s with reference BLAS (libblas3),
~78 on 2 cores with OpenBLAS (libopenblas0-pthread) — or oneDNN (torch's bundled MKL-DNN: mkldnn_linear), ~33
whatever BLAS is installed. Install OpenBLAS for a fair peer. Same products (f32, the usual order of a GEMM; the
first mismatches are checked against engram's anyway).

Why a script of its own: the Debian python3-torch on the dev machine has no transformers, and this is the
smallest thing that computes what HF's GPTNeoX does (parallel residual, partial rotary, exact GELU). It reads
the checkpoint's safetensors and the Megatron .bin/.idx rows directly. Never a test dependency.
"""
import argparse, json, os, struct, time
import numpy as np, torch

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[t["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(t["shape"]).copy())
    return out


def load_model(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    files = [f for f in sorted(os.listdir(d)) if f.endswith(".safetensors")]
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(d, f)))
    w = {k.removeprefix("gpt_neox."): v for k, v in w.items()}
    return cfg, w


def read_rows(prefix, start, count):
    """Rows [start, start + count) of a Megatron MMapIndexedDataset of 64-token uint16 rows."""
    with open(prefix + ".idx", "rb") as f:
        head = f.read(9 + 8 + 1 + 8 + 8)
        assert head[:9] == b"MMIDIDX\x00\x00", "not a Megatron index"
        dtype_code = head[17]
        n = struct.unpack("<Q", head[18:26])[0]
        sizes = np.frombuffer(f.read(4 * n), dtype=np.int32)
        pointers = np.frombuffer(f.read(8 * n), dtype=np.int64)
    dt = {8: np.uint16, 4: np.int32, 5: np.int64}.get(dtype_code, np.uint16)
    item = np.dtype(dt).itemsize
    data = np.memmap(prefix + ".bin", dtype=np.uint8, mode="r")
    rows = []
    for i in range(start, start + count):
        a = int(pointers[i])
        rows.append(np.frombuffer(data[a:a + int(sizes[i]) * item], dtype=dt)[:64])
    return torch.from_numpy(np.stack(rows).astype(np.int64))


class Linear:
    """y = x · Wᵀ + b through oneDNN or the system BLAS (see the top of this file), for x of any leading shape."""

    path = "onednn"  # set by main: "onednn" or "blas"

    def __init__(self, weight, bias=None):
        self.out = weight.shape[0]
        bias = bias if bias is not None else torch.zeros(self.out)
        if Linear.path == "blas":
            self.w, self.b = weight.contiguous(), bias.contiguous()
        else:
            self.w, self.b = weight.contiguous().to_mkldnn(), bias.contiguous().to_mkldnn()

    def __call__(self, x):
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1]).contiguous()
        if Linear.path == "blas":
            return torch.nn.functional.linear(x2, self.w, self.b).view(*lead, self.out)
        y = torch._C._nn.mkldnn_linear(x2.to_mkldnn(), self.w, self.b)
        return y.to_dense().view(*lead, self.out)


def faster_linear(rows, hidden, vocab):
    """"blas" or "onednn": whichever multiplies [rows, hidden] · [vocab, hidden]ᵀ faster here (best of 3)."""
    x, w = torch.randn(rows, hidden), torch.randn(vocab, hidden)
    best = {}
    for path in ("blas", "onednn"):
        Linear.path = path
        lin = Linear(w)
        lin(x)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            lin(x)
            times.append(time.perf_counter() - t)
        best[path] = min(times)
    return min(best, key=best.get), {p: 2 * rows * hidden * vocab / t / 1e9 for p, t in best.items()}


class NeoX:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.lin = {k[:-len(".weight")]: Linear(v, w.get(k[:-len(".weight")] + ".bias"))
                    for k, v in w.items() if k.endswith(".weight") and v.dim() == 2 and k != "embed_in.weight"}
        self.L = cfg["num_hidden_layers"]
        self.d = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.hd = self.d // self.H
        self.rot = int(self.hd * cfg.get("rotary_pct", 0.25))
        self.eps = cfg.get("layer_norm_eps", 1e-5)
        self.parallel = cfg.get("use_parallel_residual", True)
        base = cfg.get("rotary_emb_base", 10000)
        inv = 1.0 / (base ** (torch.arange(0, self.rot, 2, dtype=torch.float32) / self.rot))
        t = torch.arange(cfg.get("max_position_embeddings", 2048), dtype=torch.float32)
        f = torch.outer(t, inv)
        emb = torch.cat([f, f], -1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def rotary(self, x, pos):  # x [B, H, T, hd], pos [T]
        r = self.rot
        xr, xp = x[..., :r], x[..., r:]
        cos, sin = self.cos[pos], self.sin[pos]
        h = r // 2
        rh = torch.cat([-xr[..., h:], xr[..., :h]], -1)
        return torch.cat([xr * cos + rh * sin, xp], -1)

    def forward(self, tokens, cache=None, pos0=0, first_logit=0):
        """Logits of the last position (cache given: decoding) or of positions first_logit.. (updates cache)."""
        w, B, T = self.w, tokens.shape[0], tokens.shape[1]
        x = w["embed_in.weight"][tokens]
        pos = torch.arange(pos0, pos0 + T)
        mask = None
        if T > 1:
            mask = torch.full((T, T), float("-inf")).triu(1)
        for i in range(self.L):
            p = f"layers.{i}."
            h1 = torch.nn.functional.layer_norm(x, (self.d,), w[p + "input_layernorm.weight"],
                                                w[p + "input_layernorm.bias"], self.eps)
            qkv = self.lin[p + "attention.query_key_value"](h1)
            qkv = qkv.view(B, T, self.H, 3 * self.hd).permute(0, 2, 1, 3)
            q, k, v = qkv.split(self.hd, -1)
            q, k = self.rotary(q, pos), self.rotary(k, pos)
            if cache is not None:
                if i in cache:
                    k = torch.cat([cache[i][0], k], 2)
                    v = torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            att = (q @ k.transpose(-1, -2)) / (self.hd ** 0.5)
            if mask is not None:
                att = att + mask
            a = (att.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, self.d)
            a = self.lin[p + "attention.dense"](a)
            src = x if self.parallel else x + a
            h2 = torch.nn.functional.layer_norm(src, (self.d,), w[p + "post_attention_layernorm.weight"],
                                                w[p + "post_attention_layernorm.bias"], self.eps)
            m = self.lin[p + "mlp.dense_h_to_4h"](h2)
            m = torch.nn.functional.gelu(m)
            m = self.lin[p + "mlp.dense_4h_to_h"](m)
            x = x + a + m if self.parallel else src + m
        x = torch.nn.functional.layer_norm(x, (self.d,), w["final_layer_norm.weight"], w["final_layer_norm.bias"],
                                           self.eps)
        x = x[:, -1:] if cache is not None else x[:, first_logit:]
        return self.lin["embed_out"](x)


SIZES = {"14m": (6, 128, 4, 50304), "31m": (6, 256, 8, 50304), "70m": (6, 512, 8, 50304),
         "160m": (12, 768, 12, 50304)}  # layers, d_model, heads, vocab
# First-mismatch positions 0..31 and 32 (none) measured on a trained model (pico-5), as in pythia.py.
FIRST_MISMATCH = [5256, 2458, 1341, 773, 483, 337, 225, 163, 119, 86, 66, 59, 40, 43, 17, 17, 15, 8, 10, 10, 5,
                  10, 13, 6, 3, 5, 2, 5, 3, 1, 2, 0, 116]


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def write_rows(prefix, rows):
    """A Megatron MMapIndexedDataset of uint16 rows (one document per row)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint16)
    n, w = rows.shape
    rows.tofile(prefix + ".bin")
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", 8))
        f.write(struct.pack("<Q", n) + struct.pack("<Q", n + 1))
        f.write(np.full(n, w, dtype=np.int32).tobytes())
        f.write((np.arange(n, dtype=np.int64) * w * 2).tobytes())
        f.write(np.arange(n + 1, dtype=np.int64).tobytes())


@torch.no_grad()
def make(a):
    L, d, H, V = SIZES[a.make]
    cfg = {"architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
           "hidden_size": d, "initializer_range": 0.02, "intermediate_size": 4 * d, "layer_norm_eps": 1e-05,
           "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": H,
           "num_hidden_layers": L, "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": False,
           "torch_dtype": "float16", "transformers_version": "4.24.0", "use_cache": True,
           "use_parallel_residual": True, "vocab_size": V}
    g = torch.Generator().manual_seed(a.seed)
    normal = lambda *shape: (torch.randn(*shape, generator=g) * 0.02).half()
    t = {"gpt_neox.embed_in.weight": normal(V, d), "embed_out.weight": normal(V, d),
         "gpt_neox.final_layer_norm.weight": torch.ones(d).half(), "gpt_neox.final_layer_norm.bias": normal(d)}
    for i in range(L):
        p = f"gpt_neox.layers.{i}."
        for n in ["input_layernorm", "post_attention_layernorm"]:
            t[p + n + ".weight"], t[p + n + ".bias"] = (1 + normal(d).float()).half(), normal(d)
        for n, (o, k) in {"attention.query_key_value": (3 * d, d), "attention.dense": (d, d),
                          "mlp.dense_h_to_4h": (4 * d, d), "mlp.dense_4h_to_h": (d, 4 * d)}.items():
            t[p + n + ".weight"], t[p + n + ".bias"] = normal(o, k), normal(o)
    os.makedirs(a.model, exist_ok=True)
    json.dump(cfg, open(os.path.join(a.model, "config.json"), "w"), indent=1)
    write_safetensors(os.path.join(a.model, "model.safetensors"), t)
    m = NeoX(*load_model(a.model))
    prompts = torch.randint(2, min(V, 50254), (a.count, 32), generator=g)
    cont = []
    for s in range(0, a.count, a.batch):
        cache, x, out = {}, prompts[s:s + a.batch], []
        logits = m.forward(x, cache, 0)
        for j in range(32):  # the same decoding as kv() below
            tok = logits[:, -1].argmax(-1, keepdim=True)
            out.append(tok)
            if j < 31:
                logits = m.forward(tok, cache, 32 + j)
        cont.append(torch.cat(out, 1))
    cont = torch.cat(cont)
    p = torch.tensor(FIRST_MISMATCH, dtype=torch.float64)
    first = torch.multinomial(p / p.sum(), a.count, replacement=True, generator=g)
    for r in range(a.count):
        j = int(first[r])
        if j < 32:
            cont[r, j] = (cont[r, j] + 1 + int(torch.randint(0, 1000, (1,), generator=g))) % min(V, 50254)
    write_rows(a.data, torch.cat([prompts, cont], 1).numpy())
    print(f"{a.model}: {a.make} shape, random weights; {a.data}.bin/.idx: {a.count} rows")


def first_mismatch(pred, truth):
    bad = pred != truth
    return torch.where(bad.any(1), bad.int().argmax(1), torch.full((pred.shape[0],), 32)).tolist()


@torch.no_grad()
def kv(m, rows):
    cache = {}
    logits = m.forward(rows[:, :32], cache, 0)
    out = []
    for t in range(32):
        tok = logits[:, -1].argmax(-1, keepdim=True)
        out.append(tok)
        if t < 31:
            logits = m.forward(tok, cache, 32 + t)
    return first_mismatch(torch.cat(out, 1), rows[:, 32:])


@torch.no_grad()
def teacher(m, rows):
    logits = m.forward(rows[:, :63], first_logit=31)  # the unembedding only where a continuation is predicted
    return first_mismatch(logits.argmax(-1), rows[:, 32:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="kv,teacher")
    ap.add_argument("--out")
    ap.add_argument("--make", choices=sorted(SIZES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--linear", choices=["auto", "blas", "onednn"], default="auto")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.make:
        return make(a)
    cfg, weights = load_model(a.model)
    gflops = {}
    if a.linear == "auto":
        Linear.path, gflops = faster_linear(min(a.batch, a.count), cfg["hidden_size"], cfg["vocab_size"])
    else:
        Linear.path = a.linear
    print(f"torch linears: {Linear.path}" + "".join(f", {p} {g:.1f} GFLOP/s" for p, g in gflops.items()))
    m = NeoX(cfg, weights)
    rows = read_rows(a.data, a.start, a.count)
    result = {"torch": torch.__version__, "threads": a.threads, "rows": a.count, "batch": a.batch,
              "linear": Linear.path, "linear_gflops": gflops}
    for name in a.modes.split(","):
        fn = {"kv": kv, "teacher": teacher}[name]
        fn(m, rows[:min(a.batch, a.count)])  # warm-up
        t = time.perf_counter()
        fm = []
        for s in range(0, a.count, a.batch):
            fm += fn(m, rows[s:s + a.batch])
        dt = time.perf_counter() - t
        result[name] = {"seq_per_s": a.count / dt, "seconds": dt, "first_mismatch": fm,
                        "memorized": sum(1 for v in fm if v == 32)}
        print(f"torch {name}: {a.count / dt:.1f} rows/s ({dt:.2f} s), memorized {result[name]['memorized']}")
    if a.out:
        json.dump(result, open(a.out, "w"))


if __name__ == "__main__":
    main()
