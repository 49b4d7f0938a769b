"""Writes, for every labelled set of `benches/ablation-sets.json`, the criterion-conditioned
features of the default query with K unknown (what automatic K selection sees), its labels, and
what clusterby's own K-free choices give (silhouette k-means, HDBSCAN's cluster count).

    .venv/bin/python notebooks/auto_k/export.py OUT_DIR    (indexes from `clusterby ablate`)
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np

import clusterby

DATA = Path("../shared/data")
INDEXES = Path("target/ablation")


def truth(spec, ids):
    if "csv" in spec:
        c = spec["csv"]
        with open(DATA / c["path"], newline="") as f:
            by_id = {r[c["id"]]: r[c["label"]] for r in csv.DictReader(f)}
    else:
        with open(DATA / spec["file"]) as f:
            by_id = {r["id"]: r["label"] for r in map(json.loads, f)}
    return [by_id.get(i) for i in ids]


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for spec in json.load(open("benches/ablation-sets.json")):
        folder = "fashion" if "csv" in spec else Path(spec["file"]).stem
        # Where `clusterby ablate` writes each index: a caption file's path, or the CSV's,
        # without the extension.
        source = spec["csv"]["path"] if "csv" in spec else spec["file"]
        idx = clusterby.Index.open(INDEXES / Path(source).with_suffix(""))
        x = np.array(idx.features(spec["criterion"]), dtype=np.float32)
        ids = list(idx.frame()["id"])
        labels = truth(spec, ids)
        keep = np.array([l is not None for l in labels])
        names = sorted({l for l in labels if l is not None})
        y = np.array([names.index(l) if l is not None else -1 for l in labels])
        key = f"{spec['name']}|{spec['criterion']}"
        tag = f"{folder}-{spec['criterion'].replace(' ', '_')}"
        np.save(out / f"{tag}.x.npy", x[keep])
        np.save(out / f"{tag}.y.npy", y[keep])
        found = {}
        for method in ("kmeans", "agglomerative", "hdbscan"):
            r = idx.cluster(spec["criterion"], method=method)
            found[method] = int(json.loads(r.to_json())["k"])
        summary.append({"set": key, "tag": tag, "k_true": len(names), "n": int(keep.sum()), "clusterby": found})
        print(summary[-1], flush=True)
    json.dump(summary, open(out / "sets.json", "w"), indent=1)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
