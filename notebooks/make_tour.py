"""Writes and runs notebooks/tour.ipynb (outputs included).

    .venv/bin/python notebooks/make_tour.py

Needs the package in the venv (`.venv/bin/maturin develop --release`), `bash scripts/setup.sh`,
../shared/data beside the repository, and `pip install nbclient nbformat ipykernel`."""
import os

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))

cells = [
    ("md", """# clusterby from Python

One caption index, loaded once, queried by several criteria. Each query is the Rust query in
this process: no subprocess, no model load per query, no LLM call.

The captions are IC|TC's LLaVA captions of PPMI (people playing seven instruments), from
`../shared/data`."""),
    ("code", """import time
import clusterby
import matplotlib.pyplot as plt

idx = clusterby.Index.build("../../shared/data/captions/ppmi7.jsonl", "../target/tour-ppmi7")
idx"""),
    ("md", "## Cluster by a criterion in words"),
    ("code", """r = idx.cluster(by="musical instrument", k=7)
r.clusters"""),
    ("code", "r.assignments.head()"),
    ("code", "r.eval()"),
    ("md", "## Query many times\n\nThe same index by other criteria; each query takes milliseconds."),
    ("code", """for by, k in [("musical instrument", 7), ("location", 4), ("number of people", 3), ("clothing", 5)]:
    t = time.perf_counter()
    q = idx.cluster(by=by, k=k)
    ms = (time.perf_counter() - t) * 1e3
    print(f"{by:>20}: {ms:5.0f} ms  " + " | ".join(q.clusters["name"]))"""),
    ("md", """## Pictures

The map is drawn from the *conditioned* features, the space the clustering saw (a PCA of the
raw caption embeddings would show something else)."""),
    ("code", """fig, axes = plt.subplots(1, 3, figsize=(18, 5))
r.plot("map", ax=axes[0])
r.plot("sizes", ax=axes[1])
r.plot("confusion", ax=axes[2])
fig.tight_layout()"""),
    ("md", "## The features, for your own analysis"),
    ("code", """import numpy as np

x = r.features                  # numpy, read in place from clusterby's memory
print(x.shape, x.dtype, "copy" if x.flags["OWNDATA"] else "no copy")
centres = np.stack([x[r.labels == c].mean(axis=0) for c in range(r.k)])
centres /= np.linalg.norm(centres, axis=1, keepdims=True)
names = r.clusters["name"].tolist()
sim = centres @ centres.T
np.fill_diagonal(sim, -1)
i, j = np.unravel_index(sim.argmax(), sim.shape)
print(f"closest clusters: {names[i]!r} and {names[j]!r} (cosine {sim[i, j]:.2f})")"""),
    ("md", "## Without K: HDBSCAN\n\nDensity finds K; noise goes to the nearest cluster unless `noise=\"keep\"`."),
    ("code", """h = idx.cluster(by="musical instrument", method="hdbscan")
print(h.k, "clusters;", h.raw["diagnostics"].get("noise_reassigned"), "noise rows assigned;", h.eval())
h.clusters[["name", "size"]]"""),
]

cells += [
    ("md", """## An ablation: conditioning × method × 3 seeds

Plain caption embeddings (`none`) against the criterion's values (`values`, the default), for
three methods and three seeds, next to IC|TC's published GPT-4 accuracy on the same captions
(1,401 LLM calls; clusterby spends none)."""),
    ("code", """import pandas as pd

rows = []
for conditioning in ["none", "values"]:
    for method in ["kmeans", "agglomerative", "hdbscan"]:
        for seed in [42, 1, 2]:
            q = idx.cluster(by="musical instrument", k=7, method=method, seed=seed, conditioning=conditioning)
            s = q.eval()
            rows.append({"conditioning": conditioning, "method": method, "seed": seed, "k": q.k,
                         "acc": s.acc, "nmi": s.nmi, "ms": q.raw["timings_ms"]["total"]})
ablation = pd.DataFrame(rows)
summary = ablation.groupby(["conditioning", "method"])[["acc", "nmi", "ms"]].agg(["mean", "std"]).round(3)
summary"""),
    ("code", """ICTC_PPMI7_ACC = 0.964  # IC|TC with GPT-4 on these captions (Kwon et al., 2024)
means = ablation.groupby(["method", "conditioning"])["acc"].mean().unstack()
ax = means.plot.bar(figsize=(7, 4), rot=0, ylim=(0, 1), title="PPMI-7 by musical instrument, mean of 3 seeds")
ax.axhline(ICTC_PPMI7_ACC, color="black", linestyle="--", label="IC|TC (GPT-4)")
ax.set_ylabel("ACC")
ax.legend(loc="lower right");"""),
]

nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
nbformat.write(nb, os.path.join(HERE, "tour.ipynb"))
print("wrote", os.path.join(HERE, "tour.ipynb"))
