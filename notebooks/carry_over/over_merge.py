"""Over-cluster the query's features into MULT x K groups (k-means, 3 restarts), then merge the
groups into K by their mean values row (the criterion's block; average linkage, cosine).
Uncentred captions, as the product.
    SEEDS=42 /work/research/.venv/bin/python over_merge.py MULT Z|X [QUERY,QUERY...]
(Z: over-cluster the query's features; X: the plain caption embeddings.)
Results: notebooks/carry_over.md, "What did not work"."""
import sys
import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from final import unit, kmeans, kinds_bag, uncentred_blocks
from core import evaluate, QUERIES

def method(mult, space):
    def f(d, crit, k, seed):
        blocks = uncentred_blocks(d, crit, k, seed, lambda ids, w, U: kinds_bag(d, ids, w, U, fallback=ids))
        if blocks is None: return kmeans(d.X, k, seed)
        B, a = blocks
        Z = np.hstack([np.sqrt(a) * d.X, np.sqrt(1 - a) * B])
        m = min(mult * k, len(d.X) // 5)
        fine = KMeans(m, n_init=3, random_state=seed).fit(Z if space == "Z" else d.X).labels_
        M = unit(np.stack([B[fine == c].mean(0) for c in range(m)]))
        merge = AgglomerativeClustering(k, metric="cosine", linkage="average").fit_predict(M)
        return merge[fine]
    return f

if __name__ == "__main__":
    mult = int(sys.argv[1]); space = sys.argv[2]
    qs = [q for q in QUERIES() if q[0] in sys.argv[3].split(",")] if len(sys.argv) > 3 else QUERIES()
    evaluate(f"overmerge{mult}{space}", method(mult, space), qs, use_cache=False)
