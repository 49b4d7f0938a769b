"""Silhouette on the values block alone: does the criterion's half of the features say K?

    /work/research/.venv/bin/python notebooks/auto_k/values_silhouette.py /tmp/autok   (export.py's output)

The block is every column after the 384 caption dimensions (all-MiniLM-L6-v2), rows renormalised;
scikit-learn k-means (3 restarts) for every k on a 3,000-row sample, cosine silhouette.
"""
import json
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

CAPTION_DIMS = 384


def main(folder):
    rng = np.random.default_rng(0)
    for s in json.load(open(f"{folder}/sets.json")):
        x = np.load(f"{folder}/{s['tag']}.x.npy")
        x = x[rng.choice(len(x), min(3000, len(x)), replace=False)]
        v = x[:, CAPTION_DIMS:]
        norms = np.linalg.norm(v, axis=1)
        v = v[norms > 1e-6] / norms[norms > 1e-6, None]
        ks = range(2, min(30, int(np.sqrt(len(x)))) + 1)
        scores = [silhouette_score(v, KMeans(k, n_init=3, random_state=0).fit_predict(v), metric="cosine") for k in ks]
        print(f"{s['tag']}: true K {s['k_true']}, chosen {ks[int(np.argmax(scores))]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
