"""Label-free statistics that might tell when the recorded answers' anchors help (product names)
from when they hurt (the IC|TC sets, Stanford-40): the caption weight A, the share of captions
naming a kind, agreement between the anchors', the zero-call and plain k-means partitions,
anchor margins and how many anchors draw a share of the captions.
    SEEDS=42 /work/research/.venv/bin/python one_call_anchor_checks.py
Results: docs/one-call.md, "Answers as anchors"."""
import numpy as np
from one_call_anchors import *
from final import unit
from sklearn.metrics import normalized_mutual_info_score as nmi, mutual_info_score as mi
def H(l):
    p = np.bincount(l) / len(l); p = p[p > 0]; return float(-(p * np.log(p)).sum())
for model, s, d, crit, k, cats in recorded_queries(["qwen2.5-coder-1.5b", "smollm2-135m"]):
    A = anchors(cats, crit)
    X = unit(d.X - d.X.mean(0))
    S = d.X @ A.T
    pred = S.argmax(1)
    info = {}
    zc = np.array(final.recommended(d, crit, k, 42, info=info))
    km = KMeans(k, n_init=5, random_state=0).fit(X).labels_
    (a, n, _), (za, zn, _) = score(d.truth, pred), score(d.truth, zc)
    m = mi(zc, pred)
    # margin: mean top1-top2 anchor similarity
    srt = np.sort(S, 1); margin = float((srt[:, -1] - srt[:, -2]).mean()) if S.shape[1] > 1 else 0
    used = (np.bincount(pred, minlength=len(cats)) >= len(pred) / (4 * len(cats))).sum()
    print(f"{model[:6]} {s:36s} d={a-za:+.3f} A={info['a']:.2f} cov={info['coverage']:.2f} "
          f"nmi(zc,anc)={nmi(zc,pred):.2f} nmi(km,anc)={nmi(km,pred):.2f} H(anc|zc)/H(anc)={1-m/H(pred):.2f} H(zc|anc)/H(zc)={1-m/H(zc):.2f} "
          f"margin={margin:.3f} used={used}/{len(cats)} nmi(zc,km)={nmi(zc,km):.2f}", flush=True)
