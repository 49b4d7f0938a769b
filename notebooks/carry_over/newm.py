"""Experimental new method (options) built on core/baselines."""
import numpy as np
from core import *
from baselines import enc, crit_vec, agreement, unit
from methods import crit_words, singular

def stem_match(t, cw):
    for w in t.split(" "):
        for c in cw:
            m = min(len(w), len(c)); p = 0
            while p < m and w[p] == c[p]: p += 1
            if p >= 5 or p == m: return True
    return False

_HUB = {}
def hubness(d, knn=10):
    key = (id(d.V), len(d.ax), d.n)
    if key not in _HUB:
        V = d.V[d.ax]; S = V @ V.T; np.fill_diagonal(S, -1)
        _HUB[key] = np.sort(S, 1)[:, -knn:].mean(1)
    return _HUB[key]

def select(d, crit, q, z=1.0, unigram=True, stem=True, hub=False):
    ax = d.ax
    terms = [d.terms[t] for t in ax]
    cw = crit_words(crit)
    cand = np.array([(not stem_match(t, cw)) if stem else (not any(w in cw for w in t.split(" "))) for t in terms])
    if unigram: cand &= np.array([" " not in t for t in terms])
    s = d.V[ax] @ q
    if hub: s = 2 * s - hubness(d)
    sc = s[cand]
    tau = sc.mean() + z * sc.std() if z > -9 else 1.5 * sc.std()
    keep = cand & (s > tau)
    idf = np.log(d.n / np.maximum(d.df[ax], 1))
    w = np.zeros(len(d.terms)); w[ax] = np.where(keep, (s - tau) * idf, 0)
    return w

def tmpl_embed(d, crit, ids, tpl):
    if tpl is None: return d.V[ids]
    if isinstance(tpl, list):
        return unit(sum(tmpl_embed(d, crit, ids, t) for t in tpl))
    return enc().embed([tpl.format(c=crit, v=d.terms[t]) for t in ids])

def value_bags(d, w, U, ids, decay=1.0):
    pos = {t: j for j, t in enumerate(ids)}
    B = np.zeros((d.n, U.shape[1]), np.float32); has = np.zeros(d.n, bool)
    for i, o in enumerate(d.occ):
        f = 1.0
        for t in o:
            if t in pos:
                B[i] += f * w[t] * U[pos[t]]; f *= decay; has[i] = True
    return B, has

def new(d, crit, k, seed, z=1.5, tpl="the {c} {v}", decay=1.0, A="nmi", hub=False, unigram=True, place="centroid", xc=True):
    q = crit_vec(crit)
    w = select(d, crit, q, z=z, hub=hub, unigram=unigram)
    ids = np.where(w > 0)[0]
    X = unit(d.X - d.X.mean(0)) if xc else d.X
    if len(ids) == 0: return kmeans(X, k, seed)
    U = tmpl_embed(d, crit, ids, tpl)
    mass = np.array([w[t] * d.df[t] for t in ids])
    U = unit(U - (mass[:, None] * U).sum(0) / mass.sum())
    B, has = value_bags(d, w, U, ids, decay)
    B = unit(B)
    if has.sum() < 2 * k: return kmeans(X, k, seed)
    if A == "nmi":
        a = agreement(X[has], B[has], k, seed); a = 2 * a - 1   # plain NMI
    elif isinstance(A, str) and A.startswith("lin"):
        c, _, cap = A[3:].partition("cap")
        a = min(float(cap or 1.0), max(2 * agreement(X, B, k, seed) - 1, 0) / float(c))
    elif A == "half":
        a = agreement(X[has], B[has], k, seed)
    else: a = A
    Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
    lab = np.zeros(d.n, int)
    lab[has] = kmeans(Z[has], k, seed, n_init=10)
    if (~has).any():
        C = np.stack([X[has][lab[has] == c].mean(0) if (lab[has] == c).any() else np.zeros(X.shape[1]) for c in range(k)])
        lab[~has] = np.argmax(X[~has] @ C.T, 1)
    new.info = dict(a=a, nval=len(ids), cov=has.mean())
    return lab

_POST = {}
def postings(d):
    if not hasattr(d, "_post"):
        P = {}
        for i, o in enumerate(d.occ):
            for t in o: P.setdefault(int(t), []).append(i)
        d._post = {t: np.array(v) for t, v in P.items()}
    return d._post

def redundancy_filter(d, w, maxcov=0.5, order=None):
    P = postings(d)
    cov = np.zeros(d.n, bool); out = np.zeros_like(w)
    for t in np.argsort(-(w if order is None else np.where(w > 0, order, -9))):
        if w[t] <= 0: break
        r = P[int(t)]
        if maxcov == "soft":
            out[t] = w[t] * (1 - cov[r].mean()); cov[r] = True
        elif cov[r].mean() <= maxcov:
            out[t] = w[t]; cov[r] = True
    return out

def exclusivity_filter(d, w, min_expected=5.0, max_ratio=0.5, min_share=0.5):
    """Drop values that are no alternative to any other value: a kind of the criterion is mentioned
    together with some other frequent value far less often than chance; a generic or slot word
    ('object', 'performing') co-occurs with all of them at chance rate."""
    P = postings(d)
    ids = np.where(w > 0)[0]
    if len(ids) < 2: return w
    M = np.zeros((len(ids), d.n), np.float32)
    for j, t in enumerate(ids): M[j, P[int(t)]] = 1
    C = M @ M.T; df = M.sum(1)
    E = np.outer(df, df) / d.n
    out = w.copy()
    for j, t in enumerate(ids):
        testable = E[j] >= min_expected; testable[j] = False
        if not testable.any(): continue
        excl = C[j, testable] / E[j, testable] <= max_ratio
        share = (df[testable] * excl).sum() / df[testable].sum()
        if share < min_share: out[t] = 0
    return out

def new2(d, crit, k, seed, z=1.5, tpl="the {c} {v}", decay=1.0, A=0.0, hub=False, unigram=True, xc=True, impute="nearest", n_init=10, wmode="w", renorm=True, red=None, red_order=None, excl=None, mixcur=None, maxval=None):
    q = crit_vec(crit)
    w = select(d, crit, q, z=z, hub=hub, unigram=unigram)
    if excl is not None: w = exclusivity_filter(d, w, *excl)
    if red is not None:
        if red_order == "s":
            o = np.full(len(d.terms), -9.0); o[d.ax] = d.V[d.ax] @ q
            w = redundancy_filter(d, w, red, o)
        elif red_order == "mass":
            w = redundancy_filter(d, w, red, w * d.df)
        else: w = redundancy_filter(d, w, red)
    if wmode == "idf":
        w = np.where(w > 0, np.log(d.n / np.maximum(d.df, 1)), 0)
    elif wmode == "one":
        w = (w > 0).astype(float)
    ids = np.where(w > 0)[0]
    if maxval is not None and len(ids) > maxval:
        ids = ids[np.argsort(-(w[ids] * d.df[ids]))[:maxval]]; w2 = np.zeros_like(w); w2[ids] = w[ids]; w = w2
    X = unit(d.X - d.X.mean(0)) if xc else d.X
    if len(ids) == 0: return kmeans(X, k, seed, n_init)
    U = tmpl_embed(d, crit, ids, tpl)
    mass = np.array([w[t] * d.df[t] for t in ids])
    U = U - (mass[:, None] * U).sum(0) / mass.sum()
    if renorm: U = unit(U)
    B, has = value_bags(d, w, U, ids, decay)
    if (~has).any():
        S = d.X[~has] @ d.V[ids].T
        if impute == "nearest": B[~has] = U[np.argmax(S, 1)]
        elif impute == "proj":
            Q, _ = np.linalg.qr(d.V[ids].T); P = (d.X[~has] @ Q) @ Q.T
            B[~has] = P @ (np.linalg.pinv(d.V[ids]) @ U) if False else (S @ U)
    B = unit(B); B = unit(B - B.mean(0))
    if mixcur is not None:
        from baselines import current_weights, bags
        wc = current_weights(d, q, crit)
        Bc, _ = bags(d, wc); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - mixcur) * B, np.sqrt(mixcur) * Bc])
    if A == "nmi":
        a = 2 * agreement(X, B, k, seed) - 1
    elif A == "cov":
        a = 1 - has.mean()
    elif A == "sqrt":
        a = np.sqrt(max(2 * agreement(X, B, k, seed) - 1, 0))
    elif isinstance(A, str) and A.startswith("lin"):
        c, _, cap = A[3:].partition("cap")
        a = min(float(cap or 1.0), max(2 * agreement(X, B, k, seed) - 1, 0) / float(c))
    elif A == "half":
        a = agreement(X, B, k, seed)
    else: a = A
    Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
    new2.info = dict(a=a, nval=len(ids), cov=has.mean())
    return kmeans(Z, k, seed, n_init)
