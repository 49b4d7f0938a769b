#!/usr/bin/env python3
# Writes tests/data/metric_fixtures.json: expected clustering metrics computed with
# scikit-learn / scipy, used as reference values by the Rust unit tests.
#
# Tested with (CPython 3.11):
#   numpy==2.4.6  scipy==1.17.1  scikit-learn==1.9.1
#   pip install numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1
#
# Usage: python tests/data/make_metric_fixtures.py [--out tests/data/metric_fixtures.json]
#
# Each case: {"name", "labels_true", "labels_pred", "acc", "nmi", "ari"} with
#   acc = Hungarian (best one-to-one cluster->class mapping) accuracy:
#         scipy.optimize.linear_sum_assignment on the contingency matrix
#         (rows = true classes, cols = predicted clusters, maximize matches) / n;
#         with K_pred != K_true the extra clusters/classes stay unmatched.
#   nmi = sklearn.metrics.normalized_mutual_info_score (average_method="arithmetic")
#   ari = sklearn.metrics.adjusted_rand_score
# Labels are arbitrary non-negative integers (not necessarily 0..K-1).
# Floats are written with Python's shortest round-trip repr (full f64 precision).

import argparse
import json
import os

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

SEED = 12345


def hungarian_acc(y_true, y_pred):
    c = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].sum()) / len(y_true)


def noisy(rng, y_true, k_pred, p_correct, mapping=None):
    """Predicted labels: with prob p_correct follow mapping[true], else random cluster."""
    y_true = np.asarray(y_true)
    if mapping is None:
        mapping = {t: i % k_pred for i, t in enumerate(np.unique(y_true))}
    y = np.array([mapping[t] for t in y_true])
    flip = rng.random(len(y)) >= p_correct
    y[flip] = rng.integers(0, k_pred, size=int(flip.sum()))
    return y


def cases(rng):
    out = []

    def add(name, t, p):
        t = [int(x) for x in t]
        p = [int(x) for x in p]
        assert len(t) == len(p) and len(t) > 0
        out.append({
            "name": name,
            "labels_true": t,
            "labels_pred": p,
            "acc": hungarian_acc(t, p),
            "nmi": float(normalized_mutual_info_score(t, p)),
            "ari": float(adjusted_rand_score(t, p)),
        })

    # 1. tiny hand-made case, n=5
    add("tiny_n5_k2_vs_k2", [0, 0, 1, 1, 1], [0, 0, 1, 1, 0])

    # 2. perfect clustering up to a permutation of label ids, n=60, K=4
    t = rng.integers(0, 4, size=60)
    perm = {0: 2, 1: 3, 2: 0, 3: 1}
    add("perfect_permutation_n60_k4", t, [perm[x] for x in t])

    # 3. identical labelings with non-0..K-1 values (7, 42, 1000)
    t = rng.choice([7, 42, 1000], size=25)
    add("identical_nonconsecutive_labels_n25", t, t)

    # 4. one predicted cluster, K_true=3, n=30
    t = rng.integers(0, 3, size=30)
    add("single_pred_cluster_n30_ktrue3", t, np.zeros(30, dtype=int))

    # 5. both labelings a single (different-valued) cluster, n=12
    add("single_cluster_both_n12", [5] * 12, [9] * 12)

    # 6. every point its own cluster, n=20, K_true=4
    t = rng.integers(0, 4, size=20)
    add("singletons_pred_n20_ktrue4", t, np.arange(20) + 100)

    # 7. K_pred > K_true: 3 classes split into 5 clusters with noise, n=100
    t = rng.integers(0, 3, size=100)
    split = np.where(rng.random(100) < 0.5, t, t + 3)  # classes 0,1,2 -> {0,3},{1,4},{2,5}
    split = np.where(split == 5, 4, split)  # merge to 5 clusters total
    p = noisy(rng, split, 5, 0.85, mapping={i: i for i in range(5)})
    add("kpred_gt_ktrue_n100_k3_to_5", t, p)

    # 8. K_pred < K_true: 6 classes merged into 2 clusters with noise, n=200
    t = rng.integers(0, 6, size=200)
    p = noisy(rng, t, 2, 0.9, mapping={i: i % 2 for i in range(6)})
    add("kpred_lt_ktrue_n200_k6_to_2", t, p)

    # 9. large noisy case, n=2000, K=10 vs 10, 70% correct, ids shuffled
    t = rng.integers(0, 10, size=2000)
    shuffled = rng.permutation(10)
    p = noisy(rng, t, 10, 0.7, mapping={i: int(shuffled[i]) for i in range(10)})
    add("large_noisy_n2000_k10", t, p)

    # 10. independent random labelings (ARI ~ 0, can be negative), n=300
    t = rng.integers(0, 4, size=300)
    p = rng.integers(0, 5, size=300)
    add("random_independent_n300_k4_vs_k5", t, p)

    # 11. non-consecutive labels on both sides, K_true=3 (7,42,99) vs K_pred=4, n=150
    t = rng.choice([7, 42, 99], size=150, p=[0.5, 0.3, 0.2])
    p = noisy(rng, t, 4, 0.8, mapping={7: 3, 42: 0, 99: 2})
    p = np.array([10, 20, 30, 40])[p]  # -> labels 10,20,30,40
    add("nonconsecutive_n150_k3_vs_k4", t, p)

    # 12. unbalanced classes, n=1000, K_true=5 vs K_pred=8
    t = rng.choice(5, size=1000, p=[0.6, 0.2, 0.1, 0.07, 0.03])
    p = noisy(rng, t, 8, 0.75, mapping={0: 0, 1: 1, 2: 2, 3: 3, 4: 4})
    add("unbalanced_n1000_k5_vs_k8", t, p)

    # 13. n=7, contingency [[3,2],[2,0]]: Hungarian = (2+2)/7, whereas greedy
    #     largest-cell-first matching gives 3/7 and purity (many-to-one) gives 5/7
    add("hungarian_not_greedy_n7", [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0, 0])

    # 14. sklearn docstring-style: completely split classes, NMI = 0
    add("all_split_n4", [0, 0, 0, 0], [0, 1, 2, 3])

    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "metric_fixtures.json"))
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    data = cases(rng)
    with open(args.out, "w", encoding="utf-8") as f:
        # one case per line keeps the file diff-friendly and reasonably small
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in data))
        f.write("\n]\n")
    for c in data:
        n = len(c["labels_true"])
        kt, kp = len(set(c["labels_true"])), len(set(c["labels_pred"]))
        print(f"{c['name']:40s} n={n:5d} Kt={kt:2d} Kp={kp:2d} "
              f"acc={c['acc']:.6f} nmi={c['nmi']:.6f} ari={c['ari']:.6f}")
    print(f"{len(data)} cases, {os.path.getsize(args.out)} bytes -> {args.out}")


if __name__ == "__main__":
    main()
