"""The values' share capped by the share of captions that name a kind.

A caption that names no kind takes the kind nearest to it, so its values row repeats what its
caption says. This variant lets the values hold at most that share of the weight:
1 − A' = min(1 − A, coverage) (A: the product's agreement weight, coverage: the share of
captions naming a kind). Unlike coverage_weight.py it leaves A alone wherever the values'
share is already below the coverage. Research harness, the product's uncentred captions.
    SEEDS=42 /work/research/.venv/bin/python coverage_cap.py [QUERY ...]
Results: notebooks/carry_over.md, "What did not work"."""
import sys
import numpy as np
from final import unit, select_values, caption_weight, kinds_bag, kmeans, TEMPLATE, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES


def method(cap):
    def f(d, crit, k, seed):
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(d.X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        B, has = kinds_bag(d, ids, w, U, ids)
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(d.X, B, k, seed)
        a2 = max(a, 1 - has.mean()) if cap else a
        print(f"    {crit:30s} A {a:.2f} coverage {has.mean():.2f} -> A' {a2:.2f}", flush=True)
        return kmeans(np.hstack([np.sqrt(a2) * d.X, np.sqrt(1 - a2) * B]), k, seed)
    return f


if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    evaluate("covcap-base", method(False), Q, use_cache=False)
    evaluate("covcap", method(True), Q, use_cache=False)
