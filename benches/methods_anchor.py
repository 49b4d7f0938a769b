"""Every clustering method beside its scikit-learn anchor on the same rows, in one run.

    python benches/methods_anchor.py --captions        real caption embeddings (ablation indexes)
    python benches/methods_anchor.py 10000 100000      synthetic rows of those sizes

k-means and Ward run on the full rows (384-d caption embeddings; synthetic: 20 blobs on the
unit sphere in 384-d), both with K given and the same number of restarts (3). DBSCAN and
HDBSCAN run on the rows' 10 leading principal components, unit length (clusterby's density
space, so clusterby clusters them as given), with the same min_cluster_size (n / 4K), min
samples (DBSCAN 5, HDBSCAN 20) and, for DBSCAN, the radius clusterby chose (clusterby timed
choosing it, and again with it given); noise kept; HDBSCAN
also against fast_hdbscan. Prints seconds, the scikit-learn / clusterby time ratio, ACC and NMI
(labels known) or the ARI between the two partitions (synthetic). Needs scikit-learn, scipy,
fast_hdbscan, pyarrow and a release build; scikit-learn's Ward is skipped above 20,000 rows
(its distance matrix alone is n² / 2 floats).
"""
import os
import subprocess
import sys

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from density_anchor import ROOT, blobs as blobs10, caption_rows, hungarian_acc, timed  # noqa: E402

RUNS = 3
WARD_SKLEARN_MAX = 20_000


def blobs384(n, k=20, seed=7):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 384))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[np.arange(n) % k] + 0.8 / np.sqrt(384) * rng.normal(size=(n, 384))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.arange(n) % k


def clusterby(x, tag, **env):
    path = os.path.join(ROOT, "target", f"methods-anchor-{tag}.npy")
    np.save(path, np.ascontiguousarray(x, dtype=np.float32))
    env = {f"CLUSTERBY_BENCH_{k.upper()}": str(v) for k, v in env.items() if v is not None}
    env = dict(os.environ, CLUSTERBY_BENCH_ONLY="none", CLUSTERBY_BENCH_NPY=path, **env)
    out = subprocess.run(["cargo", "bench", "-q", "--bench", "cluster_methods"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("anchor-run"))
    fields = dict(f.split("=") for f in line.split()[1:])
    eps = None if fields["eps"] == "none" else float(fields["eps"])
    return float(fields["clusterby_seconds"]), np.loadtxt(path + ".labels", dtype=np.int64), eps




def anchors(x, z, k, tag):
    """(method, clusterby run, [(anchor name, anchor run)]) for every method on one matrix."""
    import fast_hdbscan
    from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering, KMeans

    n = len(x)
    mcs = max(5, n // (4 * k))
    out = []
    ours = clusterby(x, tag, method="kmeans", k=k, runs=RUNS)
    out.append(("k-means", ours, [("scikit-learn KMeans", timed(lambda: KMeans(k, n_init=RUNS, random_state=0).fit_predict(x)))]))
    ours = clusterby(x, tag, method="agglomerative", k=k)
    ward = [] if n > WARD_SKLEARN_MAX else [
        ("scikit-learn Agglomerative (ward)", timed(lambda: AgglomerativeClustering(k, linkage="ward").fit_predict(x)))]
    out.append(("agglomerative (ward)", ours, ward))
    ours = clusterby(z, tag + "-z", method="dbscan", mcs=mcs, ms=5)
    eps = ours[2]
    sk = ("scikit-learn DBSCAN", timed(lambda: DBSCAN(eps=eps, min_samples=5).fit_predict(z)))
    out.append(("DBSCAN, radius chosen", ours, [sk]))
    # The same radius handed to both: the same work as scikit-learn's.
    out.append(("DBSCAN, radius given", clusterby(z, tag + "-z", method="dbscan", mcs=mcs, ms=5, eps=repr(eps)), [sk]))
    ours = clusterby(z, tag + "-z", method="hdbscan", mcs=mcs, ms=20)
    out.append(("HDBSCAN", ours, [
        ("scikit-learn HDBSCAN", timed(lambda: HDBSCAN(min_cluster_size=mcs, min_samples=20, copy=True).fit_predict(z))),
        ("fast_hdbscan", timed(lambda: fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=20).fit_predict(z))),
    ]))
    return out


def row(name, n, method, ours, others, y):
    def quality(labels):
        if y is None:
            return f"ARI vs clusterby {adjusted_rand_score(ours[1], labels):.3f}"
        return f"ACC {hungarian_acc(y, labels):.3f}, NMI {normalized_mutual_info_score(y, labels):.3f}"

    k_of = lambda l: len(set(l.tolist()) - {-1})
    mine = "" if y is None else quality(ours[1])
    for anchor, (secs, labels) in others or [("(not run)", (float("nan"), None))]:
        q = "–" if labels is None else quality(labels)
        ratio = f"{secs / ours[0]:.1f}" if labels is not None else "–"
        theirs_k = "–" if labels is None else k_of(labels)
        print(f"| {name} | {n:,} | {method} | {ours[0]:.3f} | {anchor} | {secs:.3f} | **{ratio}** | "
              f"{k_of(ours[1])} / {theirs_k} | {mine or '–'} | {q} |", flush=True)


HEADER = ("| rows | n | method | clusterby s | anchor | anchor s | anchor / clusterby | clusters (c / a) | "
          "clusterby quality | anchor quality |\n|---|---|---|---|---|---|---|---|---|---|")


def main():
    import fast_hdbscan
    fast_hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5).fit(blobs10(2000))  # numba compile
    print(HEADER)
    if sys.argv[1:] == ["--captions"]:
        for name, k in (("cifar10", 10), ("stl10", 10), ("ppmi7", 7), ("stanford40_location", 40)):
            z, y, x = caption_rows(name, full=True)
            for method, ours, others in anchors(x, z, k, name):
                row(name, len(x), method, ours, others, y)
        return
    for n in [int(a) for a in sys.argv[1:]] or [10_000, 100_000]:
        x, y = blobs384(n)
        z = blobs10(n)
        for method, ours, others in anchors(x, z, 20, f"synthetic-{n}"):
            # The 10-d density rows have their own blobs; score every method against its truth.
            row(f"synthetic", n, method, ours, others, y if method in ("k-means", "agglomerative (ward)") else np.arange(n) % 20)


if __name__ == "__main__":
    main()
