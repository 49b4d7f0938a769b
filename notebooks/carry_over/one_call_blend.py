"""Experiment: the one call's answer as anchors joined to the zero-call features, not gating
them. Each caption's similarities to the answer's distinct anchors (centred, unit length) are
a block of weight W next to the zero-call features; k-means with K on the join. Where the
captions' own structure is strong (written for the criterion) it should resist a wrong answer;
where it is weak (written for something else) the anchors should lead.
usage: W=0.25,0.5 python one_call_blend.py. Results: docs/one-call.md."""
import os, numpy as np
from core import *
import final
from baselines import enc
from one_call_anchors import anchors, recorded_queries

WS = [float(w) for w in os.environ.get("W", "0.1,0.25,0.5").split(",")]
MODELS = os.environ.get("MODELS", "qwen2.5-coder-1.5b,smollm2-135m").split(",")


def zero_call_features(d, crit, k, seed):
    got = {}
    orig = final.kmeans

    def capture(Z, kk, s, n_init=20):
        got["Z"] = Z
        return orig(Z, kk, s, n_init)
    final.kmeans = capture
    try:
        lab = final.recommended(d, crit, k, seed)
    finally:
        final.kmeans = orig
    return got["Z"], np.array(lab)


def main():
    for model, s, d, crit, k, cats in recorded_queries(MODELS):
        Z, zl = zero_call_features(d, crit, k, 42)
        S = d.X @ anchors(cats, crit).T
        S = S - S.mean(0)
        S = S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
        za = score(d.truth, zl)[0]
        row = [f"{model[:6]} {s:38s} zero-call {za:.3f}"]
        for w in WS:
            acc = score(d.truth, kmeans(np.hstack([np.sqrt(1 - w) * Z, np.sqrt(w) * S]), k, 42))[0]
            row.append(f"W={w}: {acc:.3f} ({acc - za:+.3f})")
        print(" | ".join(row), flush=True)

if __name__ == "__main__":
    main()
