"""Pictures of a result with matplotlib: the map, the sizes and the confusion matrix."""
from __future__ import annotations

from typing import Any

import numpy as np


def _axes(ax: Any, size=(7, 5)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)[1]


def principal_2d(x: np.ndarray) -> np.ndarray:
    """The rows' coordinates on their first two principal components."""
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred[:: max(1, len(x) // 20000)], full_matrices=False)
    return centred @ vt[:2].T


def draw(result: Any, kind: str, ax: Any, **kwargs: Any) -> Any:
    if kind == "map":
        return _map(result, _axes(ax), **kwargs)
    if kind == "sizes":
        return _sizes(result, _axes(ax))
    if kind == "confusion":
        return _confusion(result, _axes(ax, (8, 6)))
    raise ValueError(f"plot kind: unknown value {kind!r} (one of: map, sizes, confusion)")


def _map(result: Any, ax: Any, s: float = 4.0) -> Any:
    xy = principal_2d(result.features)
    labels = result.labels
    cmap = __import__("matplotlib").colormaps["tab20"]
    noise = labels < 0
    if noise.any():
        ax.scatter(xy[noise, 0], xy[noise, 1], s=s, c="lightgrey", label="noise")
    names = {c["id"]: c["name"] for c in result.raw["clusters"]}
    for c in sorted(set(labels[~noise].tolist())):
        m = labels == c
        ax.scatter(xy[m, 0], xy[m, 1], s=s, color=cmap(c % 20), alpha=0.7)
        cx, cy = np.median(xy[m], axis=0)
        ax.annotate(names.get(c, str(c)), (cx, cy), fontsize=8, ha="center",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", alpha=0.8))
    ax.set_title(f"by {result.criterion!r}: {result.k} clusters (conditioned features, PCA)")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _sizes(result: Any, ax: Any) -> Any:
    df = result.clusters
    ax.barh(df["name"].astype(str)[::-1], df["size"][::-1])
    ax.set_xlabel("items")
    ax.set_title(f"cluster sizes by {result.criterion!r}")
    return ax


def _confusion(result: Any, ax: Any) -> Any:
    a = result.assignments.dropna(subset=["label"])
    if a.empty:
        raise ValueError("confusion: the index has no labels")
    table = a.pivot_table(index="name", columns="label", values="id", aggfunc="count", fill_value=0)
    rows, cols = _matching(table.to_numpy())
    col_order = list(table.columns[cols]) + [c for c in table.columns if c not in set(table.columns[cols])]
    row_order = list(table.index[rows]) + [r for r in table.index if r not in set(table.index[rows])]
    table = table.loc[row_order, col_order]
    im = ax.imshow(table.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(col_order)), [str(c) for c in col_order], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(row_order)), [str(r) for r in row_order], fontsize=7)
    ax.set_xlabel("label")
    ax.set_ylabel("cluster")
    ax.figure.colorbar(im, ax=ax)
    ax.set_title("clusters × labels (Hungarian order)")
    return ax


def _matching(counts: np.ndarray):
    """Cluster rows and label columns paired for the most items: scipy's Hungarian solver when
    installed, else greedily by the largest remaining cell."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        pairs, used_r, used_c = [], set(), set()
        for flat in np.argsort(-counts, axis=None):
            r, c = np.unravel_index(flat, counts.shape)
            if r not in used_r and c not in used_c:
                pairs.append((r, c))
                used_r.add(r)
                used_c.add(c)
        pairs.sort()
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return linear_sum_assignment(-counts)
