"""Tried and dropped: each caption as its clauses weighted by their cosine to the criterion
("the action"), softmax temperature tau; plain k-means (n_init 3) on those features, alone
and added to the caption embedding. Usage: python clause_spans.py stanford40_location:action:40
ppmi7:"musical instrument":7   (research venv: numpy, scikit-learn, onnxruntime, tokenizers)."""
import json, os, re, sys
import numpy as np
from sklearn.cluster import KMeans
from harness import Encoder, score

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data/captions")
SPLIT = re.compile(r'(?:,|;|\.|:)\s+|\s+(?:and|while|with|who|which|where)\s+')


def load(name):
    rows = [json.loads(l) for l in open(os.path.join(DATA, name + ".jsonl"))]
    return [r["caption"] for r in rows], [r["label"] for r in rows]


def clauses(c):
    parts = [p.strip(" .") for p in SPLIT.split(c)]
    return [p for p in parts if len(p.split()) >= 2] or [c]


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main():
    enc = Encoder()
    for arg in sys.argv[1:]:
        name, crit, k = arg.split(":")
        k = int(k)
        caps, lab = load(name)
        X = enc.embed(caps)
        cv = enc.embed([f"the {crit}"])[0]
        cl = [clauses(c) for c in caps]
        flat = sorted({p for c in cl for p in c})
        E = dict(zip(flat, enc.embed(flat)))
        km = lambda Z: KMeans(k, n_init=3, random_state=42).fit_predict(Z)
        res = {"plain": score(lab, km(X))[0]}
        for tau in [0.02, 0.05, 0.1]:
            rows = []
            for c in cl:
                e = np.stack([E[p] for p in c])
                s = e @ cv
                w = np.exp((s - s.max()) / tau)
                rows.append((w / w.sum()) @ e)
            Xc = unit(np.array(rows))
            res[f"clauses tau {tau}"] = score(lab, km(Xc))[0]
            res[f"caption + clauses tau {tau}"] = score(lab, km(unit(X + Xc)))[0]
        print(name, crit, k, {a: round(float(b), 3) for a, b in res.items()}, flush=True)


if __name__ == "__main__":
    main()
