"""Captions that name none of the criterion's kinds: which kind do they take?

The product gives such a caption the kind whose *word* is nearest to the caption. This script
compares that with the kind whose *captions* are nearest: the mean embedding of the captions
that name the kind (one pass over the rows, K_kinds centroids, the same cost as the words).
Research harness, every query of core.QUERIES(); `centre` follows the research version
(centred captions) or the product (uncentred).
    /work/research/.venv/bin/python fallback.py [SEEDS env]"""
import sys
import numpy as np
import final
from final import unit, select_values, caption_weight, kmeans, TEMPLATE, DECAY, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES


def kinds_bag(d, X, ids, w, U, mode):
    mass = np.array([w[t] * d.df[t] for t in ids])
    U = unit(U - (mass[:, None] * U).sum(0) / mass.sum())
    pos = {t: j for j, t in enumerate(ids)}
    B = np.zeros((d.n, U.shape[1]), np.float32); has = np.zeros(d.n, bool)
    first = np.full(d.n, -1)
    for i, o in enumerate(d.occ):
        f = 1.0
        for t in o:
            j = pos.get(int(t))
            if j is not None:
                B[i] += f * w[ids[j]] * U[j]; f *= DECAY; has[i] = True
                if first[i] < 0: first[i] = j
    if (~has).any():
        if mode == "word":
            ref = d.V[ids]
        else:   # the mean caption of the rows whose first-named kind it is
            ref = np.zeros((len(ids), X.shape[1]), np.float32)
            np.add.at(ref, first[has], X[has])
            empty = np.linalg.norm(ref, axis=1) == 0
            ref[empty] = d.V[np.array(ids)[empty]]
            ref = unit(ref)
        B[~has] = U[np.argmax(X[~has] @ ref.T, 1)]
    B = unit(B); return unit(B - B.mean(0)), has


def method(mode, centre):
    def f(d, crit, k, seed):
        X = unit(d.X - d.X.mean(0)) if centre else d.X
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        B, has = kinds_bag(d, X, ids, w, U, mode)
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(X, B, k, seed)
        Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
        return kmeans(Z, k, seed)
    return f


if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    for centre in (False, True):
        for mode in ("word", "centroid"):
            evaluate(f"fb-{mode}-{'c' if centre else 'u'}", method(mode, centre), Q)
