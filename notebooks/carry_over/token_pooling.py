"""Each caption re-pooled from its contextual token states (MiniLM's last layer), each token
weighted by softmax(cos(token, criterion) / T), alone or joined to the caption embedding
(weight `mix`); k-means (10 restarts, seed 42).
    TS="0.05 0.1" SEEDS=42 /work/research/.venv/bin/python token_pooling.py [QUERY ...]   (default: Stanford40)
Token states are cached in target/carry-over-cache. Results: notebooks/carry_over.md."""
import sys, os
import numpy as np
from core import *
from baselines import enc, crit_vec
from sklearn.cluster import KMeans
import harness
E = enc()
def token_states(texts, cache):
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=True); return list(z['H']), list(z['ids'])
    H, IDS = [], []
    for b in range(0, len(texts), 64):
        encs = E.tok.encode_batch(texts[b:b+64])
        ids = np.array([e.ids for e in encs], dtype=np.int64); mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in E.inputs: feed["token_type_ids"] = np.zeros_like(ids)
        h = E.s.run(None, feed)[0]
        for j in range(len(encs)):
            L = mask[j].sum(); H.append(h[j, :L].astype(np.float16)); IDS.append(ids[j, :L])
    np.savez(cache, H=np.array(H, dtype=object), ids=np.array(IDS, dtype=object))
    return H, IDS
qs = {q[0]: q for q in QUERIES()}
names = sys.argv[1:] or ["Stanford40"]
for name in names:
    d, crit, k = load(qs[name])
    H, IDS = token_states(d.captions, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/carry-over-cache", f"tok-{name.replace('/', '_').replace(':','_').replace(' ','_')}.npz"))
    q = crit_vec(crit)
    km = lambda Z: KMeans(k, n_init=10, random_state=42).fit(Z).labels_
    print(name, "plain", score(d.truth, km(d.X))[:2])
    # token relevance: cos(h_i, q), excluding CLS/SEP
    for T in [float(x) for x in os.environ.get("TS","0.1 0.2").split()]:
        for mix in [0.0, 0.5, 0.75]:
            P = np.zeros_like(d.X)
            for i, h in enumerate(H):
                h = h[1:-1].astype(np.float32)
                if len(h) == 0: P[i] = d.X[i]; continue
                c = (h / np.linalg.norm(h, axis=1, keepdims=True)) @ q
                w = np.exp((c - c.max()) / T); w /= w.sum()
                v = (w[:, None] * h).sum(0); P[i] = v / np.linalg.norm(v)
            Pc = P - P.mean(0); Pc /= np.linalg.norm(Pc, axis=1, keepdims=True)
            Z = np.hstack([np.sqrt(1 - mix) * Pc, np.sqrt(mix) * d.X]) if mix else Pc
            print(f"  T={T} mix={mix}", score(d.truth, km(Z))[:2], flush=True)
