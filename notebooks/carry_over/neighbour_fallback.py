"""Captions that name no kind: the kinds row of their m nearest captions that name one (mean),
against the product's nearest kind word (m = 0). Uncentred captions, as the product.
    SEEDS=42 /work/research/.venv/bin/python neighbour_fallback.py [M ...]   (default: 0 10)
Results: notebooks/carry_over.md, "What did not work"."""
import sys
import numpy as np
from final import unit, select_values, caption_weight, kmeans, kinds_rows, TEMPLATE, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES

def kinds_bag_knn(d, ids, w, U, X, m):
    B, has, U = kinds_rows(d, ids, w, U)
    B[has] = unit(B[has])
    if (~has).any():
        if m == 0:
            B[~has] = U[np.argmax(X[~has] @ d.V[ids].T, 1)]
        else:
            S = X[~has] @ X[has].T
            nn = np.argpartition(-S, m, axis=1)[:, :m] if S.shape[1] > m else np.tile(np.arange(S.shape[1]), (S.shape[0], 1))
            Bh = B[has]
            B[~has] = unit(Bh[nn].mean(1))
    B = unit(B); return unit(B - B.mean(0)), has

def method(m):
    def f(d, crit, k, seed):
        X = d.X
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        B, has = kinds_bag_knn(d, ids, w, U, X, m)
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(X, B, k, seed)
        Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
        return kmeans(Z, k, seed)
    return f

if __name__ == "__main__":
    ms = [int(a) for a in sys.argv[1:]] or [0, 10]
    for m in ms:
        evaluate(f"knnfb{m}", method(m), QUERIES())
