"""HDBSCAN: clusterby against fast_hdbscan (the anchor) on the same rows, in one run.

    python benches/density_anchor.py [N ...]      (default 100000 1000000)
    python benches/density_anchor.py --captions   (real caption embeddings, with scikit-learn too)

Rows: 20 Gaussian blobs on the unit sphere in 10 dimensions (the size of clusterby's density
space, so clusterby clusters them as given), seeded. Both get min_cluster_size = n / 80 and
min_samples = 20 and keep their noise. Prints seconds, the ratio, clusters, noise and the ARI
between the two partitions. Needs `pip install fast_hdbscan` (numba) and a release build.
"""
import os, subprocess, sys, time
import numpy as np
from sklearn.metrics import adjusted_rand_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REPEATS, REPEAT_BUDGET_S = 3, 2.0   # as the bench binary: the fastest of up to 3 runs, while under 2 s


def timed(f):
    """(seconds of the fastest run, labels): up to REPEATS runs while they took under REPEAT_BUDGET_S."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < REPEATS and (runs == 0 or spent < REPEAT_BUDGET_S):
        t = time.perf_counter()
        labels = f()
        s = time.perf_counter() - t
        best, spent, runs = min(best, s), spent + s, runs + 1
    return best, np.asarray(labels)


def blobs(n, k=20, d=10, spread=0.35, seed=7):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[np.arange(n) % k] + spread / np.sqrt(d) * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clusterby(path, mcs, ms):
    env = dict(os.environ, CLUSTERBY_BENCH_ONLY="none", CLUSTERBY_BENCH_NPY=path,
               CLUSTERBY_BENCH_MCS=str(mcs), CLUSTERBY_BENCH_MS=str(ms))
    out = subprocess.run(["cargo", "bench", "-q", "--bench", "cluster_methods"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("anchor-run"))
    secs = float(line.split("clusterby_seconds=")[1].split()[0])
    return secs, np.loadtxt(path + ".labels", dtype=np.int64)


def caption_rows(name, full=False):
    """A caption index's embeddings on their 10 leading principal components, unit length (the
    density space clusterby builds from plain caption embeddings), and its labels; with `full`,
    the unit-length embeddings themselves too."""
    import glob
    import pyarrow.parquet as pq
    from sklearn.decomposition import PCA

    parts = sorted(glob.glob(os.path.join(ROOT, "target/ablation/captions", name, "parts", "*.parquet")))
    tabs = [pq.read_table(p) for p in parts]
    x = np.concatenate([np.stack(t.column("embedding").to_numpy(zero_copy_only=False)) for t in tabs])
    y = np.unique(sum((t.column("label").to_pylist() for t in tabs), []), return_inverse=True)[1]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = PCA(10, random_state=0).fit_transform(x)
    z = (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)
    return (z, y, x.astype(np.float32)) if full else (z, y)


def hungarian_acc(y, labels):
    from scipy.optimize import linear_sum_assignment

    ks, ys = np.unique(labels), np.unique(y)
    m = np.array([[np.sum((labels == a) & (y == b)) for b in ys] for a in ks])
    r, c = linear_sum_assignment(-m)
    return m[r, c].sum() / len(y)


def captions():
    """clusterby, fast_hdbscan and scikit-learn's HDBSCAN on the same reduced caption rows."""
    import fast_hdbscan
    from sklearn.cluster import HDBSCAN

    fast_hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5).fit(blobs(2000))
    print("| set | n | clusterby s | fast_hdbscan s | scikit-learn s | sklearn / clusterby | ACC, noise kept (c / f / s) | clusters (c / f / s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, k in (("cifar10", 10), ("stl10", 10), ("stanford40_location", 40)):
        x, y = caption_rows(name)
        n = len(x)
        path = os.path.join(ROOT, "target", f"density-anchor-{name}.npy")
        np.save(path, x)
        mcs, ms = max(5, n // (4 * k)), 20
        ours, ol = clusterby(path, mcs, ms)
        fast, fl = timed(lambda: fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms).fit_predict(x))
        skl, sl = timed(lambda: HDBSCAN(min_cluster_size=mcs, min_samples=ms, copy=True).fit_predict(x))
        accs = " / ".join(f"{hungarian_acc(y, l):.3f}" for l in (ol, fl, sl))
        ks = " / ".join(str(l.max() + 1) for l in (ol, fl, sl))
        print(f"| {name} | {n:,} | {ours:.2f} | {fast:.2f} | {skl:.2f} | {skl / ours:.1f} | {accs} | {ks} |", flush=True)


def main():
    if sys.argv[1:] == ["--captions"]:
        return captions()
    import fast_hdbscan
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    fast_hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5).fit(blobs(2000))  # numba compile
    print("| n | clusterby s | fast_hdbscan s | ratio (fast_hdbscan / clusterby) | clusters (c / f) | noise (c / f) | ARI between them |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        x = blobs(n)
        path = os.path.join(ROOT, "target", f"density-anchor-{n}.npy")
        np.save(path, x)
        mcs, ms = n // 80, 20
        ours, ol = clusterby(path, mcs, ms)
        theirs, fl = timed(lambda: fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms).fit_predict(x))
        print(f"| {n:,} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f} | {ol.max() + 1} / {fl.max() + 1} | "
              f"{(ol < 0).mean():.3f} / {(fl < 0).mean():.3f} | {adjusted_rand_score(ol, fl):.3f} |", flush=True)


if __name__ == "__main__":
    main()
