"""Experiment: the one call's recorded answers used as zero-shot anchors. Each distinct category
(name and examples in the criterion's template, and its description, averaged) is an anchor, and
every caption goes to its nearest anchor. Prints ACC/NMI next to plain k-means, and two
candidate checks that might tell a right answer from a wrong one: the partition's k-means
objective next to k-means's, and the criterion relevance of each partition's c-TF-IDF keywords
against the zero-call partition's.
usage: python one_call_anchors.py. Results: docs/one-call.md, "Answers as anchors"."""
import sys, json, re, numpy as np
from core import *
import final
from baselines import enc, crit_vec
from sklearn.cluster import KMeans

RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "one_call_real_model")
def content(path):
    d = json.load(open(path)); txt = ''
    for line in d['response'].split('\n'):
        if line.startswith('data: ') and line[6:].strip() != '[DONE]':
            try: j = json.loads(line[6:])
            except Exception: continue
            for c in j.get('choices', []):
                txt += (c.get('delta', {}) or {}).get('content') or ''
    return txt
def categories(txt):
    out = []
    for m in re.finditer(r'\{[^{}]*\}', txt):
        try: o = json.loads(m.group(0))
        except Exception: continue
        if isinstance(o, dict) and 'name' in o: out.append((o['name'], o.get('description', ''), [e for e in o.get('examples', []) if isinstance(e, str)]))
    return out
SETS = {"ppmi-2": ("ppmi2", "musical instrument", 2, None), "ppmi-7": ("ppmi7", "musical instrument", 7, None),
        "stl-10": ("stl10", "object", 10, None), "cifar-10": ("cifar10", "object", 10, None),
        "stanford-40": ("stanford40_location", "action", 40, None),
        "fashion--colour": ("fashion", "colour", 21, "baseColour"), "fashion--gender": ("fashion", "gender", 5, "gender"),
        "fashion--type-of-product": ("fashion", "type of product", 27, "articleType"),
        "fashion--product-category": ("fashion", "product category", 13, "subCategory"),
        "fashion--type-of-footwear-or-clothing": ("fashion", "type of footwear or clothing", 4, "masterCategory"),
        "fashion--season": ("fashion", "season", 4, "season"), "fashion--usage": ("fashion", "usage", 6, "usage")}

QN = {"ppmi-2": "PPMI-2", "ppmi-7": "PPMI-7", "stl-10": "STL-10", "cifar-10": "CIFAR-10", "stanford-40": "Stanford40"}


def relevance(d, lab, q, top=5):
    """Mean cosine to the criterion of each cluster's top c-TF-IDF terms, weighted by size."""
    ax = d.ax
    T = np.zeros((lab.max() + 1, len(d.terms)))
    for i, o in enumerate(d.occ):
        T[lab[i], o] += 1
    T = T[:, ax]
    C = T / np.maximum(T.sum(1, keepdims=True), 1) * np.log(1 + T.sum() / np.maximum(T.sum(0), 1))
    rel = d.V[ax] @ q
    sizes = np.bincount(lab)
    s = [rel[np.argsort(-C[c])[:top]].mean() for c in range(len(sizes)) if sizes[c] > 0]
    return float(np.average(s, weights=sizes[sizes > 0]))


def sse(X, lab):
    return sum(((X[lab == c] - X[lab == c].mean(0)) ** 2).sum() for c in set(lab))


def recorded_queries(models):
    """(model, set, data, criterion, K, distinct categories) for every recorded answer with two
    distinct categories or more."""
    qs = {q[0]: q for q in QUERIES()}
    for model in models:
        for s, (_, crit, k, _) in SETS.items():
            d, crit, k = load(qs[QN.get(s, "fashion:" + crit)])
            seen = {}
            for c in categories(content(f"{RECORDED}/{model}/{s}.json")):
                seen.setdefault(c[0].strip().lower(), c)
            cats = list(seen.values())
            if len(cats) < 2:
                print(model, s, "fewer than two categories")
                continue
            yield model, s, d, crit, k, cats


def anchors(cats, crit):
    """Each category's name and examples in the criterion's template, and its line, averaged."""
    A = []
    for n, desc, ex in cats:
        v = enc().embed([f"the {crit} {n}"] + ([desc] if desc else []) + [f"the {crit} {e}" for e in ex]).mean(0)
        A.append(v / np.linalg.norm(v))
    return np.stack(A)


def main():
    for model, s, d, crit, k, cats in recorded_queries(["qwen2.5-coder-1.5b", "smollm2-135m"]):
        pred = (d.X @ anchors(cats, crit).T).argmax(1)
        km = KMeans(k, n_init=5, random_state=0).fit(d.X).labels_
        zc = np.array(final.recommended(d, crit, k, 42))
        q = crit_vec(crit)
        (a, n, _), (ka, kn, _), (za, _, _) = score(d.truth, pred), score(d.truth, km), score(d.truth, zc)
        print(f"{model[:6]} {s:38s} {len(cats):2d}/{k:2d} categories  anchors ACC {a:.3f} NMI {n:.3f} | "
              f"plain {ka:.3f}/{kn:.3f} | zero-call {za:.3f} | objective ratio {sse(d.X, pred) / sse(d.X, km):.3f} | "
              f"relevance {relevance(d, pred, q):.3f} vs zero-call {relevance(d, zc, q):.3f}", flush=True)

if __name__ == "__main__":
    main()
