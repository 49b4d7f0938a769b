"""Experiment: the criterion's kinds extended by the terms strongly associated with one kind
(objects of actions: horse with riding), each embedded as the phrase '{kind} {term}'.
usage: python assoc.py Stanford40   (LIFT, MINC: the association rule; MODE=phrase|template|proj;
AFIX: a fixed caption weight). Results: notebooks/carry_over.md, "What did not work"."""
import os, sys, numpy as np
from final import *
from final import select_values, unit, kmeans, kinds_bag, caption_weight
from baselines import enc, crit_vec, current_weights, bags
from methods import crit_words

LIFT = float(os.environ.get("LIFT", "3"))
MINC = int(os.environ.get("MINC", "5"))
MODE = os.environ.get("MODE", "phrase")

def associated(d, w, crit):
    kinds = list(w); kpos = {t: j for j, t in enumerate(kinds)}
    cw = crit_words(crit)
    cand = [t for t in d.ax if t not in w and " " not in d.terms[t]]
    cpos = {int(t): j for j, t in enumerate(cand)}
    C = np.zeros((len(cand), len(kinds)))
    for o in d.occ:
        ks = [kpos[int(t)] for t in o if int(t) in kpos]
        if not ks: continue
        for t in o:
            j = cpos.get(int(t))
            if j is not None:
                for kk in set(ks): C[j, kk] += 1
    dfk = np.array([d.df[t] for t in kinds], float); dfc = np.array([d.df[t] for t in cand], float)
    E = np.outer(dfc, dfk) / d.n
    lift = np.where(C >= MINC, C / np.maximum(E, 1e-9), 0)
    best = lift.argmax(1); bl = lift.max(1)
    out = {}
    for j, t in enumerate(cand):
        if bl[j] >= LIFT:
            out[int(t)] = (kinds[best[j]], bl[j])
    return out

def recommended_assoc(d, crit, k, seed, n_init=20, info=None):
    X = unit(d.X - d.X.mean(0))
    q = crit_vec(crit)
    w = select_values(d, crit, q)
    if not w: return kmeans(X, k, seed, n_init)
    assoc = associated(d, w, crit)
    ids = list(w)
    U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
    ext = list(assoc)
    if MODE == "phrase":
        Ue = enc().embed([f"{d.terms[assoc[t][0]]} {d.terms[t]}" for t in ext]) if ext else np.zeros((0, U.shape[1]))
    else:
        Ue = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ext]) if ext else np.zeros((0, U.shape[1]))
    allids = ids + ext
    wt = {**w, **{t: w[assoc[t][0]] for t in ext}}
    UU = np.vstack([U, Ue]) if ext else U
    B, has = kinds_bag(d, allids, wt, UU, fallback=ids)
    if MODE == "proj":
        Q, _ = np.linalg.qr(d.V[allids].T)
        B = unit(d.X @ Q); B = unit(B - B.mean(0))
    Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
    if MODE != "proj":
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
    a = caption_weight(X, B, k, seed)
    if os.environ.get("AFIX"): a = float(os.environ["AFIX"])
    if info is not None: info.update(a=a, ext=[(d.terms[t], d.terms[assoc[t][0]], round(assoc[t][1],1)) for t in ext][:40], coverage=has.mean())
    Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
    return kmeans(Z, k, seed, n_init)

if __name__ == "__main__":
    import warnings; warnings.filterwarnings("ignore")
    from core import QUERIES, load, evaluate
    want = sys.argv[1:] or None
    qs = [q for q in QUERIES() if not want or q[0] in want]
    for q in qs[:1]:
        d, crit, k = load(q); info = {}
        recommended_assoc(d, crit, k, 42, info=info); print(q[0], "A", round(info["a"], 2), info["ext"])
    tag = f"assoc-{MODE}-{LIFT}-{MINC}-{os.environ.get('AFIX','')}"
    res = evaluate(tag, recommended_assoc, queries=qs, seeds=[42], verbose=False)
    base = evaluate("final", recommended, queries=qs, seeds=[42], verbose=False)
    for q in qs:
        a, b = np.array(res[q[0]])[0], np.array(base[q[0]])[0]
        print(f"{q[0]:32s} final {b[0]:.3f}/{b[1]:.3f}  assoc {a[0]:.3f}/{a[1]:.3f}  dACC {a[0]-b[0]:+.3f}", flush=True)
