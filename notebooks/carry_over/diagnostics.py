"""Label-aware diagnostics of the default query's limits (never used by the product): what an
oracle or another way of cutting the same features would give. Seed 42, the product's
uncentred features (final.uncentred_blocks), `CW_RESTARTS=20` as the product.
    CW_RESTARTS=20 /work/research/.venv/bin/python diagnostics.py oracle-kinds QUERY ...
        the class names' own words (single-word axis terms) as the kinds; NMI over SEEDS
    CW_RESTARTS=20 /work/research/.venv/bin/python diagnostics.py starts QUERY
        k-means from the true classes' means; 40 single k-means++ runs, inertia against ACC
    CW_RESTARTS=20 /work/research/.venv/bin/python diagnostics.py mixtures QUERY ...
        Gaussian mixtures in 32 / 64 principal coordinates, started from k-means
    /work/research/.venv/bin/python diagnostics.py kind-groups QUERY
        the kinds in the criterion's template, cut into K by k-means and by linkage
Results: notebooks/carry_over.md ("What did not work", "How the method was found")."""
import re
import sys
import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.mixture import GaussianMixture
import final
from final import kinds_bag, kmeans, unit, select_values, TEMPLATE
from baselines import crit_vec, enc
from core import load, QUERIES, SEEDS
from harness import score


def query(name):
    return load(next(q for q in QUERIES() if q[0] == name))


def features(d, crit, k, seed):
    blocks = final.uncentred_blocks(d, crit, k, seed, lambda ids, w, U: kinds_bag(d, ids, w, U, fallback=ids))
    if blocks is None:
        return None
    B, a = blocks
    return np.hstack([np.sqrt(a) * d.X, np.sqrt(1 - a) * B])


def oracle_kinds(name):
    d, crit, k = query(name)
    tid = {t: i for i, t in enumerate(d.terms)}
    ax = set(d.ax.tolist())
    words = {v for l in set(d.truth) for w in re.findall(r"[a-z]+", l.lower()) for v in (w, w.rstrip("s"))}
    ids = sorted({tid[w] for w in words if w in tid and tid[w] in ax})
    named = set(ids)
    coverage = np.mean([any(int(t) in named for t in o) for o in d.occ])
    out = []
    for mode, select in [("found", final.select_values), ("oracle", lambda d_, c, q: {t: 1.0 for t in ids})]:
        original, final.select_values = final.select_values, select
        try:
            zs = [features(d, crit, k, s) for s in SEEDS]
            out.append(f"{mode} NMI " + ("none" if zs[0] is None else
                       "%.3f" % np.mean([nmi(d.truth, kmeans(z, k, s)) for z, s in zip(zs, SEEDS)])))
        finally:
            final.select_values = original
    print(name, "oracle words", [d.terms[i] for i in ids][:15], "coverage %.2f" % coverage, *out)


def starts(name):
    d, crit, k = query(name)
    labs = sorted(set(d.truth)); t = np.array([labs.index(x) for x in d.truth])
    for tag, M in [("captions", d.X), ("query", features(d, crit, k, 42))]:
        C = np.stack([M[t == c].mean(0) for c in range(k)])
        oracle = KMeans(k, init=C, n_init=1).fit(M)
        runs = np.array([(km.inertia_, score(d.truth, km.labels_)[0])
                         for km in (KMeans(k, n_init=1, random_state=s).fit(M) for s in range(40))])
        best = runs[np.argmin(runs[:, 0])]
        print(name, tag, "true-class start ACC %.3f (inertia %.1f)" % (score(d.truth, oracle.labels_)[0], oracle.inertia_),
              "| 40 runs: corr(inertia, ACC) %.2f, lowest inertia %.1f at ACC %.3f"
              % (np.corrcoef(runs[:, 0], runs[:, 1])[0, 1], best[0], best[1]))


def mixtures(name):
    d, crit, k = query(name)
    Z = features(d, crit, k, 42)
    r = [name, "k-means at full width %.3f" % score(d.truth, kmeans(Z, k, 42))[0]]
    for dims in (32, 64):
        P = PCA(dims, random_state=0).fit_transform(Z)
        km = KMeans(k, n_init=20, random_state=42).fit(P)
        for cov in ("diag", "spherical"):
            g = GaussianMixture(k, covariance_type=cov, means_init=km.cluster_centers_, random_state=0,
                                max_iter=200, reg_covar=1e-5).fit(P)
            r.append("%d-d %s %.3f" % (dims, cov, score(d.truth, g.predict(P))[0]))
    print(*r)


def kind_groups(name):
    d, crit, k = query(name)
    w = select_values(d, crit, crit_vec(crit)); ids = sorted(w, key=lambda t: -w[t])
    U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
    mass = np.array([w[t] * d.df[t] for t in ids]); U = unit(U - (mass[:, None] * U).sum(0) / mass.sum())
    cuts = {"k-means": KMeans(k, n_init=20, random_state=0).fit(U).labels_}
    for link in ("average", "complete"):
        cuts[link] = AgglomerativeClustering(k, metric="cosine", linkage=link).fit_predict(U)
    for tag, g in cuts.items():
        print(name, tag, [[d.terms[ids[i]] for i in range(len(ids)) if g[i] == c][:14] for c in range(k)])


if __name__ == "__main__":
    run = {"oracle-kinds": oracle_kinds, "starts": starts, "mixtures": mixtures, "kind-groups": kind_groups}[sys.argv[1]]
    for q in sys.argv[2:]:
        run(q)
