"""The recommended zero-call conditioning method, written step by step for porting.
Equivalent to newm.new2 with z=1.0, decay=0.5, tpl="the {c} {v}", excl=[5, 0.5, 0.4],
A="lin0.5cap0.9", mixcur=0.75 (this file's results are cached as "final"; mixcur=0.5 is cached as "N8")."""
import os
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi
from methods import crit_words
from baselines import enc, crit_vec, current_weights, bags

Z_SELECT = 1.0        # value threshold: mean + Z_SELECT * std of the candidates' cosines
MIN_EXPECTED = 5.0    # a pair of values is testable when independence predicts >= 5 co-mentions
EXCL_RATIO = 0.5      # a testable pair is exclusive when observed co-mentions <= 0.5 * expected
MIN_SHARE = 0.4       # a value must be exclusive with >= 40% of its testable partners' df mass
DECAY = 0.5           # weight of the j-th (0-based) value a caption mentions: DECAY**j
TEMPLATE = "the {c} {v}"
NMI_FULL = 0.5        # NMI(caption partition, value partition) at which the caption half reaches its cap
A_CAP = 0.9           # the value half always keeps at least 1 - A_CAP of the weight
SAMPLE = 1000
SAMPLE_RESTARTS = int(os.environ.get("CW_RESTARTS", "3"))  # the product uses 20 (carry_over.md)
MIX_CURRENT = 0.75    # share of the value half given to the current product's bag
KIND_ENCODER = None   # another encoder for the kinds only (mpnet_kinds.py); None: the index's

def unit(M):
    return M / np.maximum(np.linalg.norm(M, axis=-1, keepdims=True), 1e-12)

def shares_stem(term, cw):
    for w in term.split(" "):
        for c in cw:
            m = min(len(w), len(c)); p = 0
            while p < m and w[p] == c[p]: p += 1
            if p >= 5 or p == m: return True
    return False

def select_values(d, crit, q):
    """-> dict term_id -> weight."""
    cw = crit_words(crit)
    ax = [t for t in d.ax if " " not in d.terms[t] and not shares_stem(d.terms[t], cw)]
    if not ax: return {}
    ax = np.array(ax)
    s = d.V[ax] @ q
    tau = s.mean() + Z_SELECT * s.std()
    keep = s > tau
    w = {int(t): float((st - tau) * np.log(d.n / d.df[t])) for t, st, k in zip(ax, s, keep) if k}
    return exclusivity(d, w)

def exclusivity(d, w):
    ids = list(w)
    if len(ids) < 2: return w
    pos = {t: j for j, t in enumerate(ids)}
    M = np.zeros((len(ids), d.n), np.float32)          # in Rust: posting lists / bitsets
    for i, o in enumerate(d.occ):
        for t in o:
            j = pos.get(int(t))
            if j is not None: M[j, i] = 1
    C = M @ M.T; df = M.sum(1); E = np.outer(df, df) / d.n
    out = {}
    for j, t in enumerate(ids):
        part = E[j] >= MIN_EXPECTED; part[j] = False
        if part.any():
            ex = C[j, part] <= EXCL_RATIO * E[j, part]
            if (df[part] * ex).sum() / df[part].sum() < MIN_SHARE: continue
        out[t] = w[t]
    return out

def kmeans(Z, k, seed, n_init=20):
    return KMeans(k, n_init=n_init, random_state=seed).fit(Z).labels_

def kinds_rows(d, ids, w, U):
    """Each caption's raw kinds row (U mass-centred and unit; the n-th kind mentioned counting
    DECAY**n), which captions named a kind, and the centred U."""
    mass = np.array([w[t] * d.df[t] for t in ids])
    U = unit(U - (mass[:, None] * U).sum(0) / mass.sum())
    pos = {t: j for j, t in enumerate(ids)}
    B = np.zeros((d.n, U.shape[1]), np.float32); has = np.zeros(d.n, bool)
    for i, o in enumerate(d.occ):
        f = 1.0
        for t in o:
            j = pos.get(int(t))
            if j is not None:
                B[i] += f * w[ids[j]] * U[j]; f *= DECAY; has[i] = True
    return B, has, U

def kinds_bag(d, ids, w, U, fallback, X=None, ref=None):
    """Each caption's kinds (U: their template vectors, mass-centred here), the n-th mentioned
    counting DECAY**n; a caption naming none takes the kind (of `fallback`, U's first rows)
    whose word is nearest it (or, given `ref`, one row per fallback kind, whose row is nearest;
    captions `X`, default d.X). Returns the centred unit rows and which captions named a kind."""
    B, has, U = kinds_rows(d, ids, w, U)
    if (~has).any():   # rows that mention no value: the value nearest to the caption
        X = d.X if X is None else X
        B[~has] = U[np.argmax(X[~has] @ (d.V[fallback] if ref is None else ref).T, 1)]
    B = unit(B); return unit(B - B.mean(0)), has

def caption_weight(X, B, k, seed):
    """A = min(A_CAP, NMI(caption partition, values partition) / NMI_FULL) on a seeded sample."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(SAMPLE, len(X)), replace=False)
    kk = min(k, len(rows) // 2)
    px = KMeans(kk, n_init=SAMPLE_RESTARTS, random_state=seed).fit(X[rows]).labels_
    pb = KMeans(kk, n_init=SAMPLE_RESTARTS, random_state=seed).fit(B[rows]).labels_
    return min(A_CAP, nmi(px, pb) / NMI_FULL)

def recommended(d, crit, k, seed, n_init=20, info=None):
    X = unit(d.X - d.X.mean(0))
    q = crit_vec(crit)
    w = select_values(d, crit, q)
    if not w: return kmeans(X, k, seed, n_init)
    ids = list(w)
    U = (KIND_ENCODER or enc()).embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
    B, has = kinds_bag(d, ids, w, U, fallback=ids)
    # the current product's value bag, unchanged (all relevant terms, no decay, bare term vectors)
    Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
    B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
    a = caption_weight(X, B, k, seed)
    if info is not None: info.update(a=a, values=[d.terms[t] for t in ids], coverage=has.mean())
    Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
    return kmeans(Z, k, seed, n_init)

def uncentred_blocks(d, crit, k, seed, kinds_bag_of):
    """The product's values block and caption weight on uncentred captions, as the product
    builds them, with `kinds_bag_of(ids, w, U)` making the kinds' part: (B, A), or None when no
    term is relevant."""
    q = crit_vec(crit)
    w = select_values(d, crit, q)
    if not w: return None
    ids = list(w)
    U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
    B, _ = kinds_bag_of(ids, w, U)
    Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
    B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
    return B, caption_weight(d.X, B, k, seed)
