import numpy as np, re
from harness import *
from sklearn.cluster import KMeans

STOP = set("a an the of and or is are to in on at with for by from as it its this that these those be".split())

def singular(w):
    if len(w) > 3 and w.endswith("ies"): return w[:-3] + "y"
    if len(w) > 3 and w.endswith("es") and w[-3] in "sxz": return w[:-2]
    if len(w) > 2 and w.endswith("s") and not w.endswith("ss"): return w[:-1]
    return w

def crit_words(c):
    return [singular(w) for w in re.findall(r"[a-z]+", c.lower()) if w not in STOP]

def crit_vec(enc, c, phrases=None):
    phrases = phrases or [c, f"a kind of {c}", f"the {c} is"]
    q = enc.embed(phrases).mean(0); return q / np.linalg.norm(q)

def kmeans(X, k, seed=42, n_init=20):
    return KMeans(k, n_init=n_init, random_state=seed).fit(X).labels_

def nmi(a, b): return normalized_mutual_info_score(a, b)

def weights_current(ix, q, crit, z=1.5, scored=None):
    axis = ix.axis if scored is None else scored
    s = ix.V[:axis] @ q
    cw = crit_words(crit)
    cand = np.array([not any(w in cw for w in t.split(" ")) for t in ix.terms[:axis]])
    tau = z * s[cand].std()
    idf = np.log(len(ix.ids) / np.maximum(ix.df[:axis], 1)).clip(0)
    w = np.zeros(len(ix.terms)); w[:axis] = np.where(cand, np.maximum(s - tau, 0) * idf, 0)
    return w, s

def bags(ix, w, X=None):
    n = len(ix.ids); V = ix.V
    B = np.zeros((n, V.shape[1]), np.float32); has = np.zeros(n, bool)
    for i, o in enumerate(ix.occ):
        o = o[w[o] > 0]
        if len(o): B[i] = (w[o, None] * V[o]).sum(0); has[i] = True
    rel = np.where(w > 0)[0]
    if X is not None and (~has).any():
        # own projection on the span of the relevant terms
        Q, _ = np.linalg.qr(V[rel].T)
        B[~has] = (X[~has] @ Q) @ Q.T
    return B, has

def unit(B):
    n = np.linalg.norm(B, axis=1, keepdims=True); return B / np.maximum(n, 1e-12)

def agreement(X, Bf, k, seed=42):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(1000, len(X)), replace=False)
    kk = min(k, len(rows)//2)
    a = KMeans(kk, n_init=3, random_state=seed).fit(X[rows]).labels_
    b = KMeans(kk, n_init=3, random_state=seed).fit(Bf[rows]).labels_
    return 0.5 * (1 + nmi(a, b))

def current(ix, enc, crit, k, seed=42, A=None):
    q = crit_vec(enc, crit)
    w, _ = weights_current(ix, q, crit)
    B, has = bags(ix, w, ix.X)
    B = unit(B); B = unit(B - B.mean(0))
    if A is None: A = agreement(ix.X, B, k, seed)
    Z = np.hstack([np.sqrt(A) * ix.X, np.sqrt(1 - A) * B])
    return kmeans(Z, k, seed), dict(A=A, top=[ix.terms[i] for i in np.argsort(-w)[:12]])
