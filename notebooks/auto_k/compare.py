"""Automatic K: which rule finds the true K on the labelled sets? Reads what `export.py` wrote
and scores silhouette (clusterby's rule, and scikit-learn's on the same fits), Calinski–Harabasz,
Davies–Bouldin, the gap statistic, the eigengap of a k-nearest-neighbour graph, and HDBSCAN's
cluster count, each on the criterion-conditioned features, k from 2 to min(30, √n).

    /work/research/.venv/bin/python notebooks/auto_k/compare.py OUT_DIR   (needs scikit-learn, scipy)
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy.sparse import csgraph
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.neighbors import kneighbors_graph

SAMPLE = 3000
SEED = 42


def fits(x, ks):
    return {k: KMeans(k, n_init=3, random_state=SEED).fit(x) for k in ks}


def gap_choice(x, ks, models, b=5):
    """Tibshirani's gap statistic with references uniform in the principal-axes box; the
    smallest k with gap(k) ≥ gap(k+1) − s(k+1)."""
    rng = np.random.default_rng(SEED)
    mu = x.mean(0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    z = (x - mu) @ vt.T
    lo, hi = z.min(0), z.max(0)
    log_w = {k: np.log(models[k].inertia_) for k in ks}
    ref = {k: [] for k in ks}
    for _ in range(b):
        r = rng.uniform(lo, hi, size=z.shape) @ vt + mu
        for k in ks:
            ref[k].append(np.log(KMeans(k, n_init=1, random_state=SEED).fit(r).inertia_))
    gap = {k: np.mean(ref[k]) - log_w[k] for k in ks}
    s = {k: np.std(ref[k]) * np.sqrt(1 + 1 / b) for k in ks}
    for k in ks[:-1]:
        if gap[k] >= gap[k + 1] - s[k + 1]:
            return k
    return ks[-1]


def eigengap_choice(x, ks, neighbours=15):
    a = kneighbors_graph(x, neighbours, metric="cosine", include_self=False)
    a = 0.5 * (a + a.T)
    a.data = 1.0 - a.data  # cosine similarity as the weight
    lap = csgraph.laplacian(a, normed=True)
    vals = np.sort(eigsh(lap, k=ks[-1] + 2, which="SM", return_eigenvectors=False))
    gaps = {k: vals[k] - vals[k - 1] for k in ks}
    return max(gaps, key=gaps.get)


def main(out):
    sets = json.load(open(out / "sets.json"))
    rows = []
    for s in sets:
        x, y = np.load(out / f"{s['tag']}.x.npy"), np.load(out / f"{s['tag']}.y.npy")
        rng = np.random.default_rng(SEED)
        if len(x) > SAMPLE:
            x = x[rng.choice(len(x), SAMPLE, replace=False)]
        ks = list(range(2, min(30, int(np.sqrt(s["n"]))) + 1))
        models = fits(x, ks)
        score = {
            "silhouette": {k: silhouette_score(x, models[k].labels_, metric="cosine") for k in ks},
            "calinski_harabasz": {k: calinski_harabasz_score(x, models[k].labels_) for k in ks},
            "davies_bouldin": {k: -davies_bouldin_score(x, models[k].labels_) for k in ks},
        }
        chosen = {name: max(v, key=v.get) for name, v in score.items()}
        chosen["gap"] = gap_choice(x, ks, models)
        chosen["eigengap"] = eigengap_choice(x, ks)
        chosen["clusterby_silhouette"] = s["clusterby"]["kmeans"]
        chosen["clusterby_hdbscan"] = s["clusterby"]["hdbscan"]
        rows.append({"set": s["set"], "k_true": s["k_true"], "chosen": chosen})
        print(rows[-1], flush=True)
    json.dump(rows, open(out / "choices.json", "w"), indent=1)
    rules = list(rows[0]["chosen"])
    print("\n| rule | " + " | ".join(r["set"].split("|")[-1] + f" ({r['k_true']})" for r in rows) + " | hits | within 20 % |")
    print("|---" * (len(rows) + 3) + "|")
    for rule in rules:
        ks = [r["chosen"][rule] for r in rows]
        hits = sum(k == r["k_true"] for k, r in zip(ks, rows))
        near = sum(abs(k - r["k_true"]) <= 0.2 * r["k_true"] for k, r in zip(ks, rows))
        print(f"| {rule} | " + " | ".join(map(str, ks)) + f" | {hits} | {near} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
