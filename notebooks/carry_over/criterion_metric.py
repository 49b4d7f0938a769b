"""The captions in a metric stretched toward the criterion: the directions along which the
criterion's relevant terms vary (weighted by relevance and caption count), relative to the
directions along which the captions vary, replace the raw caption block of the product's query.
Uncentred captions, as the product.
    SEEDS=42 /work/research/.venv/bin/python criterion_metric.py VARIANT PARAM [QUERY,QUERY...]
VARIANT: gen (top PARAM generalised eigenvectors of C_rel against C_captions, alone),
         genq (the same directions in place of the caption block of the product's query),
         stretch (X (C_rel / max + PARAM I)^1/2 in place of the caption block).
REG=R sets the ridge of the generalised problem.
Results: notebooks/carry_over.md, "What did not work"."""
import os
import sys
import numpy as np
from scipy.linalg import eigh
from final import unit, kmeans, kinds_bag, uncentred_blocks, caption_weight, Z_SELECT
from baselines import crit_vec
from core import evaluate, QUERIES

# Ridge on the captions' covariance in the generalised problem, as a share of its mean variance
# (REG=0.3 and 3 were also run: 0.185 and 0.296 on Stanford-40).
REG = float(os.environ.get("REG", "1e-3"))


def relevant_cov(d, crit):
    q = crit_vec(crit)
    ax = d.ax
    s = d.V[ax] @ q
    tau = s.mean() + Z_SELECT * s.std()
    keep = s > tau
    t = ax[keep]
    w = (s[keep] - tau) * d.df[t]
    V = d.V[t]
    mu = (w[:, None] * V).sum(0) / w.sum()
    Vc = V - mu
    return (w[:, None] * Vc).T @ Vc / w.sum()


def caption_space(d, crit, variant, p):
    Cr = relevant_cov(d, crit)
    X = d.X
    if variant in ("gen", "genq"):
        Xc = X - X.mean(0)
        Cx = Xc.T @ Xc / len(X)
        ev, W = eigh(Cr, Cx + REG * np.trace(Cx) / len(Cx) * np.eye(len(Cx)))
        W = W[:, ::-1][:, :int(p)] * np.sqrt(np.maximum(ev[::-1][:int(p)], 0))
        return unit(Xc @ W)
    ev, U = np.linalg.eigh(Cr)
    ev = np.maximum(ev, 0) / ev.max()
    S = (U * np.sqrt(ev + p)) @ U.T
    return unit(X @ S)


def method(variant, p):
    def f(d, crit, k, seed):
        Xs = caption_space(d, crit, variant, p)
        if variant == "gen":
            return kmeans(Xs, k, seed)
        blocks = uncentred_blocks(d, crit, k, seed, lambda ids, w, U: kinds_bag(d, ids, w, U, fallback=ids))
        if blocks is None:
            return kmeans(Xs, k, seed)
        B, _ = blocks
        a = caption_weight(Xs, B, k, seed)
        return kmeans(np.hstack([np.sqrt(a) * Xs, np.sqrt(1 - a) * B]), k, seed)
    return f


if __name__ == "__main__":
    variant = sys.argv[1]; p = float(sys.argv[2])
    qs = [q for q in QUERIES() if q[0] in sys.argv[3].split(",")] if len(sys.argv) > 3 else QUERIES()
    evaluate(f"cmetric-{variant}{p}", method(variant, p), qs, use_cache=False)
