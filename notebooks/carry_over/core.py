"""Shared data access, query list (dev + proxies), baselines, k-means and result cache."""
import os, json, hashlib, time, re
import numpy as np
from harness import Encoder, Index, fashion_labels, score
from sklearn.cluster import KMeans

SEEDS = [int(s) for s in os.environ.get("SEEDS", "42,1,2").split(",")]
CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/carry-over-cache")

class Data:
    """An index (or a row subset of one) with axis terms given as an id array `ax`."""
    def __init__(self, ix, rows=None, truth=None):
        n_all = len(ix.ids)
        rows = np.arange(n_all) if rows is None else np.asarray(rows)
        self.n = n = len(rows)
        self.X = ix.X[rows]
        self.occ = [ix.occ[r] for r in rows]
        self.captions = [ix.captions[r] for r in rows]
        self.V = ix.V; self.terms = ix.terms
        if len(rows) == n_all:
            self.df = ix.df.astype(np.int64); self.ax = np.arange(ix.axis)
        else:
            df = np.zeros(len(ix.terms), np.int64)
            for o in self.occ: df[o] += 1
            self.df = df
            lo = max(3, int(np.ceil(0.003 * n))); hi = max(int(np.floor(0.5 * n)), lo)
            self.ax = np.where((df >= lo) & (df <= hi))[0]
        self.truth = truth

_IX = {}
def index(name):
    if name not in _IX: _IX[name] = Index(name)
    return _IX[name]

# (name, kind, index, criterion, K or None, truth function(ix) -> list, row filter(ix)->rows or None)
def _lab(ix): return list(ix.labels)
def _fashion(col):
    def f(ix):
        fl = fashion_labels(); return [fl[i][col] for i in ix.ids]
    return f
WIND = {"Saxophone", "Trumpet", "Flute"}
ANIMAL10 = {"bird", "cat", "deer", "dog", "frog", "horse", "monkey"}
STF_AV = {"feeding a horse": "animal", "riding a horse": "animal", "walking the dog": "animal",
          "riding a bike": "vehicle", "fixing a bike": "vehicle", "fixing a car": "vehicle", "rowing a boat": "vehicle"}
STF_OBJ = ["riding a horse", "riding a bike", "walking the dog", "rowing a boat", "looking through a telescope",
           "looking through a microscope", "playing guitar", "playing violin", "holding an umbrella", "shooting an arrow"]

def QUERIES():
    Q = [("PPMI-2", "dev", "ppmi2", "musical instrument", 2, _lab, None),
         ("PPMI-7", "dev", "ppmi7", "musical instrument", 7, _lab, None),
         ("STL-10", "dev", "stl10", "object", 10, _lab, None),
         ("CIFAR-10", "dev", "cifar10", "object", 10, _lab, None),
         ("Stanford40", "dev", "stanford40_location", "action", 40, _lab, None)]
    for crit, col in [("colour", "baseColour"), ("gender", "gender"), ("type of product", "articleType"),
                      ("product category", "subCategory"), ("type of footwear or clothing", "masterCategory"),
                      ("season", "season"), ("usage", "usage")]:
        Q.append((f"fashion:{crit}", "fashion", "fashion", crit, None, _fashion(col), None))
    # proxies
    Q += [("demo:location", "proxy", "demo", "location", 4, lambda ix: [l.split("|")[0] for l in ix.labels], None),
          ("demo:mood", "proxy", "demo", "mood", 4, lambda ix: [l.split("|")[1] for l in ix.labels], None),
          ("PPMI-7>wind/string", "proxy", "ppmi7", "musical instrument", 2, lambda ix: ["wind" if l in WIND else "string" for l in ix.labels], None),
          ("CIFAR-10>animal/vehicle", "proxy", "cifar10", "animal or vehicle", 2, lambda ix: ["a" if l in ANIMAL10 else "v" for l in ix.labels], None),
          ("STL-10>category", "proxy", "stl10", "category", 2, lambda ix: ["a" if l in ANIMAL10 else "v" for l in ix.labels], None),
          ("CIFAR-animals>animal class", "proxy", "cifar10", "animal class", 3,
           lambda ix: [{"bird": "bird", "frog": "amphibian"}.get(l, "mammal") for l in ix.labels],
           lambda ix: [i for i, l in enumerate(ix.labels) if l in ANIMAL10]),
          ("STL-animals>animal class", "proxy", "stl10", "animal class", 2,
           lambda ix: ["bird" if l == "bird" else "mammal" for l in ix.labels],
           lambda ix: [i for i, l in enumerate(ix.labels) if l in ANIMAL10]),
          ("Stf-guitar/violin>instrument", "proxy", "stanford40_location", "musical instrument", 2, _lab,
           lambda ix: [i for i, l in enumerate(ix.labels) if l in ("playing guitar", "playing violin")]),
          ("Stf-7>animal/vehicle", "proxy", "stanford40_location", "animal or vehicle", 2, lambda ix: [STF_AV.get(l, "?") for l in ix.labels],
           lambda ix: [i for i, l in enumerate(ix.labels) if l in STF_AV]),
          ("Stf-10>object", "proxy", "stanford40_location", "object", 10, _lab,
           lambda ix: [i for i, l in enumerate(ix.labels) if l in STF_OBJ]),
          ]
    return Q

def load(q):
    name, kind, ixn, crit, k, tf, rf = q
    ix = index(ixn)
    truth = np.array(tf(ix))
    rows = None if rf is None else np.array(rf(ix))
    d = Data(ix, rows, truth if rows is None else truth[rows])
    if k is None: k = len(set(d.truth))
    return d, crit, k

def kmeans(Z, k, seed, n_init=20):
    return KMeans(k, n_init=n_init, random_state=seed).fit(Z).labels_

def cached(key, fn):
    p = f"{CACHE}/{hashlib.md5(key.encode()).hexdigest()}.json"
    if os.path.exists(p): return json.load(open(p))
    r = fn(); json.dump(r, open(p, "w")); return r

def evaluate(method_name, fn, queries=None, seeds=SEEDS, use_cache=True, verbose=True):
    """fn(d, crit, k, seed) -> labels. Returns {query: [(acc,nmi,ari) per seed]}."""
    out = {}
    for q in (queries or QUERIES()):
        d = None
        res = []
        for s in seeds:
            def run():
                nonlocal d
                if d is None: d0 = load(q); d = d0
                dd, crit, k = d
                lab = fn(dd, crit, k, s)
                return list(score(dd.truth, lab))
            key = f"{method_name}|{q[0]}|{s}"
            res.append(cached(key, run) if use_cache else run())
        out[q[0]] = res
        if verbose:
            a = np.array(res)
            print(f"  {method_name:14s} {q[0]:32s} ACC {a[:,0].mean():.3f}±{a[:,0].std():.3f} NMI {a[:,1].mean():.3f}±{a[:,1].std():.3f}", flush=True)
    return out
