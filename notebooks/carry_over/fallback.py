"""Captions that name none of the criterion's kinds: which kind do they take?

The product gives such a caption the kind whose *word* is nearest to the caption. This script
compares that with the kind whose *captions* are nearest: the mean embedding of the captions
whose first-named kind it is (one pass over the rows, one centroid per kind, the same cost as
the words). Research harness, every query of core.QUERIES(); `centre` follows the research
version (centred captions) or the product (uncentred).
    /work/research/.venv/bin/python fallback.py [SEEDS env]"""
import sys
import numpy as np
from final import unit, select_values, caption_weight, kinds_bag, kmeans, TEMPLATE, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES


def caption_centroids(d, X, ids):
    """Per kind, the unit mean of the captions that name it first (its word where none does)."""
    pos = {t: j for j, t in enumerate(ids)}
    ref = np.zeros((len(ids), X.shape[1]), np.float32)
    for i, o in enumerate(d.occ):
        first = next((pos[int(t)] for t in o if int(t) in pos), None)
        if first is not None:
            ref[first] += X[i]
    empty = np.linalg.norm(ref, axis=1) == 0
    ref[empty] = d.V[np.array(ids)[empty]]
    return unit(ref)


def method(mode, centre, reweight=None):
    """`mode` "word" (the product) or "centroid"; `reweight(A, coverage)`, when given, replaces
    the caption weight A given the share of captions naming a kind."""
    def f(d, crit, k, seed):
        X = unit(d.X - d.X.mean(0)) if centre else d.X
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        ref = caption_centroids(d, X, ids) if mode == "centroid" else None
        B, has = kinds_bag(d, ids, w, U, ids, X=X, ref=ref)
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(X, B, k, seed)
        if reweight is not None:
            a = reweight(a, has.mean())
        Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
        return kmeans(Z, k, seed)
    return f


if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    for centre in (False, True):
        for mode in ("word", "centroid"):
            evaluate(f"fb-{mode}-{'c' if centre else 'u'}", method(mode, centre), Q)
