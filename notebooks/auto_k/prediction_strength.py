"""Prediction strength (Tibshirani & Walther 2005) for K, on the features `export.py` writes:
for each k, halves of a 3,000-row sample are clustered apart (k-means, 3 restarts), the first
half's centres label the second, and the score is the smallest share of same-cluster pairs of a
second-half cluster that the first half keeps together (mean of 3 splits). K is the largest k
scoring at least the threshold (0.8 in the paper).

    /work/research/.venv/bin/python notebooks/auto_k/prediction_strength.py /tmp/autok
"""
import glob, os, sys
import numpy as np
from sklearn.cluster import KMeans
D = sys.argv[1]
KMAX = 30
def ps_curve(x, seed=0, reps=3, sample=3000):
    rng = np.random.default_rng(seed)
    if len(x) > sample: x = x[rng.choice(len(x), sample, replace=False)]
    n = len(x); out = {}
    kmax = min(KMAX, int(np.sqrt(n)))
    for k in range(2, kmax + 1):
        vals = []
        for r in range(reps):
            p = rng.permutation(n); a, b = x[p[: n // 2]], x[p[n // 2:]]
            ka = KMeans(k, n_init=3, random_state=r).fit(a)
            kb = KMeans(k, n_init=3, random_state=r + 100).fit(b)
            test = kb.labels_
            pred = ka.predict(b)  # training centroids label the test half
            worst = 1.0
            for c in range(k):
                idx = np.where(test == c)[0]
                m = len(idx)
                if m < 2: continue
                same = pred[idx]
                cnt = np.bincount(same, minlength=k)
                pairs = (cnt * (cnt - 1)).sum() / (m * (m - 1))
                worst = min(worst, pairs)
            vals.append(worst)
        out[k] = float(np.mean(vals))
    return out
for f in sorted(glob.glob(f"{D}/*.x.npy")):
    tag = os.path.basename(f)[:-6]
    x = np.load(f); y = np.load(f"{D}/{tag}.y.npy", allow_pickle=True)
    kt = len(set(y.tolist()))
    c = ps_curve(x)
    picks = {th: max([k for k, v in c.items() if v >= th], default=2) for th in (0.8, 0.7, 0.6)}
    print(tag, "true", kt, "PS picks", picks, " ".join(f"{k}:{v:.2f}" for k, v in c.items() if k <= 14 or k in (20, 27, 30)), flush=True)
