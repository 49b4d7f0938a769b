"""How four scores rank the class names' own words among a query's kind candidates (the
single-word axis terms that share no stem with the criterion): the bare word's cosine to the
criterion (the product's), the criterion's template "the {c} {v}" against the criterion, that
template's lift over "the thing {v}", and the template against the bare word.
    /work/research/.venv/bin/python kind_scores.py
Results: notebooks/carry_over.md, "What did not work"."""
import numpy as np, sys, re
sys.path.insert(0,'.')
from final import shares_stem, Z_SELECT, unit
from methods import crit_words
from baselines import crit_vec, enc
from core import load, QUERIES
Q=["fashion:usage","fashion:product category","fashion:gender","fashion:type of product","PPMI-7","Stanford40","STL-10","fashion:colour"]
for name in Q:
    q=[q for q in QUERIES() if q[0]==name][0]
    d,crit,k=load(q)
    qv=crit_vec(crit); cw=crit_words(crit)
    ax=np.array([t for t in d.ax if " " not in d.terms[t] and not shares_stem(d.terms[t], cw)])
    terms=[d.terms[t] for t in ax]
    words=set()
    for l in set(d.truth):
        for w in re.findall(r"[a-z]+",l.lower()): words|={w,w.rstrip('s')}
    orc=np.array([t in words for t in terms])
    if orc.sum()==0: continue
    bare=d.V[ax]@qv
    T=enc().embed([f"the {crit} {t}" for t in terms]); N=enc().embed([f"the thing {t}" for t in terms])
    tpl=T@qv
    lift=tpl-(N@qv)
    selfsim=(T*d.V[ax]).sum(1)
    def report(sc):
        z=(sc-sc.mean())/sc.std(); kept=z>Z_SELECT
        r=np.argsort(np.argsort(-sc))
        return "kept %2d/%2d oracle, median rank %3d"%((kept&orc).sum(),orc.sum(),np.median(r[orc]))
    print(f"{name:28s} n={len(ax)} | bare {report(bare)} | template {report(tpl)} | lift {report(lift)} | tpl-vs-word {report(selfsim)}",flush=True)
