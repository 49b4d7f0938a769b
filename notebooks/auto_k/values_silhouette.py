"""Silhouette on the values block alone: does the criterion's half of the features say K?

    /work/research/.venv/bin/python notebooks/auto_k/values_silhouette.py /tmp/autok   (export.py's output)

The block is every column after the 384 caption dimensions (all-MiniLM-L6-v2), rows renormalised;
the same fits as compare.py (scikit-learn k-means, 3 restarts, 3,000-row sample), cosine silhouette.
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import silhouette_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import SAMPLE, SEED, fits  # noqa: E402

CAPTION_DIMS = 384


def main(out):
    for s in json.load(open(out / "sets.json")):
        x = np.load(out / f"{s['tag']}.x.npy")
        rng = np.random.default_rng(SEED)
        if len(x) > SAMPLE:
            x = x[rng.choice(len(x), SAMPLE, replace=False)]
        v = x[:, CAPTION_DIMS:]
        norms = np.linalg.norm(v, axis=1)
        v = v[norms > 1e-6] / norms[norms > 1e-6, None]
        ks = list(range(2, min(30, int(np.sqrt(s["n"]))) + 1))
        models = fits(v, ks)
        scores = {k: silhouette_score(v, models[k].labels_, metric="cosine") for k in ks}
        print(f"{s['tag']}: true K {s['k_true']}, chosen {max(scores, key=scores.get)}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
