"""plain k-means and the current method (port of methods.current on an axis id array)."""
import numpy as np, re
from core import *
from methods import crit_words, unit, STOP
from sklearn.metrics import normalized_mutual_info_score as nmi

_ENC = None
def enc():
    global _ENC
    if _ENC is None: _ENC = Encoder()
    return _ENC

def crit_vec(c, phrases=None):
    phrases = phrases or [c, f"a kind of {c}", f"the {c} is"]
    q = enc().embed(phrases).mean(0); return q / np.linalg.norm(q)

def plain(d, crit, k, seed):
    return kmeans(d.X, k, seed)

def agreement(X, B, k, seed):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(1000, len(X)), replace=False)
    kk = min(k, len(rows) // 2)
    a = KMeans(kk, n_init=3, random_state=seed).fit(X[rows]).labels_
    b = KMeans(kk, n_init=3, random_state=seed).fit(B[rows]).labels_
    return 0.5 * (1 + nmi(a, b))

def current_weights(d, q, crit, z=1.5):
    ax = d.ax
    s = d.V[ax] @ q
    cw = crit_words(crit)
    cand = np.array([not any(w in cw for w in d.terms[t].split(" ")) for t in ax])
    tau = z * s[cand].std()
    idf = np.log(d.n / np.maximum(d.df[ax], 1)).clip(0)
    w = np.zeros(len(d.terms)); w[ax] = np.where(cand, np.maximum(s - tau, 0) * idf, 0)
    return w

def bags(d, w):
    B = np.zeros((d.n, d.V.shape[1]), np.float32); has = np.zeros(d.n, bool)
    for i, o in enumerate(d.occ):
        o = o[w[o] > 0]
        if len(o): B[i] = (w[o, None] * d.V[o]).sum(0); has[i] = True
    rel = np.where(w > 0)[0]
    if (~has).any() and len(rel):
        Q, _ = np.linalg.qr(d.V[rel].T)
        B[~has] = (d.X[~has] @ Q) @ Q.T
    return B, has

def current(d, crit, k, seed, A=None):
    q = crit_vec(crit)
    w = current_weights(d, q, crit)
    B, has = bags(d, w)
    B = unit(B); B = unit(B - B.mean(0))
    if A is None: A = agreement(d.X, B, k, seed)
    Z = np.hstack([np.sqrt(A) * d.X, np.sqrt(1 - A) * B])
    return kmeans(Z, k, seed)

if __name__ == "__main__":
    import sys
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    for q in Q:
        evaluate("plain", plain, [q]); evaluate("current", current, [q])
