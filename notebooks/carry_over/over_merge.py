"""Over-cluster the query's features into MULT x K groups (k-means, 3 restarts), then merge the
groups into K by their mean values row (the criterion's block; average linkage, cosine).
Uncentred captions, as the product.
    SEEDS=42 /work/research/.venv/bin/python over_merge.py MULT Z|X [QUERY,QUERY...]
(Z: over-cluster the query's features; X: the plain caption embeddings.)
Results: notebooks/carry_over.md, "What did not work"."""
import sys
import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from final import unit, select_values, caption_weight, kmeans, kinds_bag, TEMPLATE, MIX_CURRENT
from baselines import enc, crit_vec, current_weights, bags
from core import evaluate, QUERIES

def method(mult, space):
    def f(d, crit, k, seed):
        X = d.X
        q = crit_vec(crit)
        w = select_values(d, crit, q)
        if not w: return kmeans(X, k, seed)
        ids = list(w)
        U = enc().embed([TEMPLATE.format(c=crit, v=d.terms[t]) for t in ids])
        B, has = kinds_bag(d, ids, w, U, fallback=ids, X=X)
        Bc, _ = bags(d, current_weights(d, q, crit)); Bc = unit(Bc); Bc = unit(Bc - Bc.mean(0))
        B = np.hstack([np.sqrt(1 - MIX_CURRENT) * B, np.sqrt(MIX_CURRENT) * Bc])
        a = caption_weight(X, B, k, seed)
        Z = np.hstack([np.sqrt(a) * X, np.sqrt(1 - a) * B])
        m = min(mult * k, len(X) // 5)
        fine = KMeans(m, n_init=3, random_state=seed).fit(Z if space == "Z" else X).labels_
        M = np.stack([B[fine == c].mean(0) for c in range(m)])
        M = unit(M)
        merge = AgglomerativeClustering(k, metric="cosine", linkage="average").fit_predict(M)
        return merge[fine]
    return f

if __name__ == "__main__":
    mult = int(sys.argv[1]); space = sys.argv[2]
    qs = [q for q in QUERIES() if q[0] in sys.argv[3].split(",")] if len(sys.argv) > 3 else QUERIES()
    evaluate(f"overmerge{mult}{space}", method(mult, space), qs, use_cache=False)
