"""The values' share scaled by how many captions name a kind.

A caption that names no kind takes the kind nearest to it, so its values row repeats what its
caption says; only the captions that name a kind bring the criterion in. This variant gives
the values 1 − A' = (1 − A) · coverage^γ of the weight (A: the product's agreement weight,
coverage: the share of captions naming a kind). Research harness, the product's uncentred
captions, every query of core.QUERIES().
    /work/research/.venv/bin/python coverage_weight.py [SEEDS env]"""
import sys
import numpy as np
from final import unit, select_values, caption_weight, kmeans, TEMPLATE, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES
from fallback import kinds_bag


def method(gamma):
    def f(d, crit, k, seed):
        X = d.X
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        B, has = kinds_bag(d, X, ids, w, U, "word")
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(X, B, k, seed)
        a = 1 - (1 - a) * has.mean() ** gamma
        Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
        return kmeans(Z, k, seed)
    return f


if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    for gamma in (1.0, 0.5):
        evaluate(f"cov-{gamma}", method(gamma), Q)
