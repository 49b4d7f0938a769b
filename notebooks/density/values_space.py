"""Experiment: HDBSCAN's density space from the values block alone (the criterion's span that
conditioning computes) instead of the whole conditioned features. scikit-learn HDBSCAN on the
10 leading principal coordinates (unit rows), min_cluster_size n/4K, min_samples 20, noise to
the nearest cluster mean; the research harness's conditioning (notebooks/carry_over/).
usage: cd notebooks/carry_over && python ../density/values_space.py"""
import sys, os, numpy as np
sys.path.insert(0, os.getcwd())
from core import *
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from one_call_blend import zero_call_features


def density(Z, k, dims=10, seed=42):
    P = PCA(dims, random_state=seed).fit_transform(Z)
    P /= np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    mcs = max(5, len(Z) // (4 * k))
    lab = HDBSCAN(min_cluster_size=mcs, min_samples=min(20, mcs)).fit(P).labels_
    if (lab >= 0).any():
        ids = np.unique(lab[lab >= 0])
        C = np.stack([Z[lab == c].mean(0) for c in ids])
        noise = lab < 0
        lab[noise] = ids[np.argmax(Z[noise] @ C.T, 1)]
    return lab


for name in ["PPMI-2", "PPMI-7", "STL-10", "CIFAR-10", "Stanford40", "fashion:colour", "fashion:gender",
             "fashion:product category", "PPMI-7>wind/string"]:
    q = [q for q in QUERIES() if q[0] == name][0]
    d, crit, k = load(q)
    Z, zl = zero_call_features(d, crit, k, 42)
    B = Z[:, d.X.shape[1]:]
    B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    out = [f"{name:28s} k-means {score(d.truth, zl)[0]:.3f}"]
    for label, M in [("features", Z), ("values", B)]:
        lab = density(M, k)
        out.append(f"{label}: ACC {score(d.truth, lab)[0]:.3f} ({len(set(lab))} clusters)")
    print(" | ".join(out), flush=True)
