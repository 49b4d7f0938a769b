"""Captions that name no kind: the kinds row of their m nearest captions that name one (mean),
against the product's nearest kind word (m = 0). Uncentred captions, as the product.
    SEEDS=42 /work/research/.venv/bin/python neighbour_fallback.py [M ...]   (default: 0 10)
Results: notebooks/carry_over.md, "What did not work"."""
import sys
import numpy as np
from final import unit, kmeans, kinds_rows, uncentred_blocks
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
        blocks = uncentred_blocks(d, crit, k, seed, lambda ids, w, U: kinds_bag_knn(d, ids, w, U, d.X, m))
        if blocks is None: return kmeans(d.X, k, seed)
        B, a = blocks
        return kmeans(np.hstack([np.sqrt(a) * d.X, np.sqrt(1 - a) * B]), k, seed)
    return f

if __name__ == "__main__":
    ms = [int(a) for a in sys.argv[1:]] or [0, 10]
    for m in ms:
        evaluate(f"knnfb{m}", method(m), QUERIES())
