"""`Result`: one query's clusters as pandas DataFrames, numpy features, scores and plots."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from . import _clusterby

if TYPE_CHECKING:
    import pandas as pd

    from ._index import Index


@dataclass(frozen=True)
class Query:
    """What a result was asked for, so its features can be recomputed."""

    by: str
    k: Optional[int]
    seed: int
    exclude: Tuple[str, ...]
    conditioning: str


@dataclass(frozen=True)
class Scores:
    """Hungarian accuracy, NMI and ARI against labels; `unlabelled` rows were left out."""

    acc: float
    nmi: float
    ari: float
    n: int
    unlabelled: int


@dataclass(frozen=True)
class Conditioning:
    """What values conditioning found: the criterion's values (kinds first), the mined terms
    they were chosen from, the caption weight A (the values get 1 − A) and the share of
    captions that name a kind of the criterion (None without kinds): how far the captions
    state the criterion at all."""

    criterion_values: Tuple[str, ...]
    vocabulary_size: int
    caption_weight: Optional[float]
    kinds_coverage: Optional[float]


@dataclass(frozen=True)
class Setting:
    """One density setting as the method ran with it; `source` is "given", "default" (the
    method's rule from n and K) or "chosen" (from the data: DBSCAN's radius)."""

    value: float
    source: str


@dataclass(frozen=True)
class DensitySettings:
    """What HDBSCAN or DBSCAN ran with, given or not: the smallest cluster, min_samples
    (DBSCAN's min_points), DBSCAN's radius (None for HDBSCAN) and the density space's
    coordinates."""

    min_cluster_size: Setting
    min_samples: Setting
    eps: Optional[Setting]
    dimensions: int


class Result:
    """The result of `Index.cluster`; `raw` is the result JSON the CLI writes."""

    def __init__(self, index: "Index", raw_json: str, query: Query) -> None:
        self._index = index
        self._json = raw_json
        self.raw: Dict[str, Any] = json.loads(raw_json)
        self._query = query
        self._features: Optional[np.ndarray] = None

    def __repr__(self) -> str:
        return f"clusterby.Result(by={self.criterion!r}, k={self.k}, method={self.method!r})"

    @property
    def criterion(self) -> str:
        return self.raw["criterion"]

    @property
    def k(self) -> int:
        return self.raw["k"]

    @property
    def method(self) -> Optional[str]:
        return self.raw.get("method")

    @property
    def conditioning(self) -> Optional[Conditioning]:
        """The values conditioning's report; None for `conditioning="none"` and image queries."""
        c = self.raw.get("diagnostics", {}).get("conditioning")
        if c is None:
            return None
        return Conditioning(
            criterion_values=tuple(c["criterion_values"]),
            vocabulary_size=c["vocabulary_size"],
            caption_weight=c.get("caption_weight"),
            kinds_coverage=c.get("kinds_coverage"),
        )

    @property
    def density(self) -> Optional[DensitySettings]:
        """HDBSCAN's and DBSCAN's settings as they ran; None for the other methods."""
        d = self.raw.get("diagnostics", {}).get("density")
        if d is None:
            return None
        eps = d.get("eps")
        return DensitySettings(
            min_cluster_size=Setting(**d["min_cluster_size"]),
            min_samples=Setting(**d["min_samples"]),
            eps=Setting(**eps) if eps is not None else None,
            dimensions=d["dimensions"],
        )

    @property
    def labels(self) -> np.ndarray:
        """Cluster per row, in index order (-1 = noise kept by a density method)."""
        return np.fromiter((a["cluster"] for a in self.raw["assignments"]), dtype=np.int64)

    @property
    def assignments(self) -> "pd.DataFrame":
        """One row per item: id, cluster, name, caption, label (None where unknown)."""
        import pandas as pd

        ids, captions, labels = self._index._columns()
        names = {c["id"]: c["name"] for c in self.raw["clusters"]}
        cluster = self.labels
        if len(cluster) != len(ids):  # a result over some of the rows (IC|TC with a limit)
            row = {i: n for n, i in enumerate(ids)}
            pos = [row[a["id"]] for a in self.raw["assignments"]]
            ids = [ids[p] for p in pos]
            captions = [captions[p] for p in pos]
            labels = [labels[p] for p in pos]
        return pd.DataFrame(
            {
                "id": ids,
                "cluster": cluster,
                "name": [names.get(int(c), "noise") for c in cluster],
                "caption": captions,
                "label": labels,
            }
        )

    @property
    def clusters(self) -> "pd.DataFrame":
        """One row per cluster: cluster, name, size, keywords, examples (most typical ids)."""
        import pandas as pd

        rows = [
            {"cluster": c["id"], "name": c["name"], "size": c["size"], "keywords": c["keywords"], "examples": c["examples"]}
            for c in self.raw["clusters"]
        ]
        return pd.DataFrame(rows, columns=["cluster", "name", "size", "keywords", "examples"])

    @property
    def features(self) -> np.ndarray:
        """The criterion-conditioned rows this query clustered (computed again on first use:
        one conditioning step, as fast as the query's own)."""
        if self._features is None:
            q = self._query
            # An image query's space, as it ran (caption indexes have none).
            space = self.raw.get("diagnostics", {}).get("space")
            extra = {} if space is None else {"space": space}
            self._features = self._index.features(
                q.by, q.k, seed=q.seed, exclude=q.exclude, conditioning=q.conditioning, **extra
            )
        return self._features

    def to_json(self, path: Optional[str] = None) -> str:
        """The result JSON (the CLI's schema); also written to `path` when given."""
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self._json)
        return self._json

    def eval(self, labels: Union[None, Mapping[str, str], "pd.Series"] = None) -> Scores:
        """Scores against `labels` (id -> label, a dict or a pandas Series indexed by id), or
        against the index's own labels when None."""
        if labels is None:
            ids, _, own = self._index._columns()
            truth = {i: l for i, l in zip(ids, own) if l is not None}
        else:
            truth = {str(i): str(l) for i, l in dict(labels).items()}
        pairs = [(a["id"], a["cluster"]) for a in self.raw["assignments"]]
        return Scores(*_clusterby.score(pairs, truth))

    def plot(self, kind: str = "map", ax: Any = None, **kwargs: Any) -> Any:
        """Draws with matplotlib and returns the axes: "map" (the conditioned features' first two
        principal components, coloured by cluster, names at the centres), "sizes" (cluster
        sizes) or "confusion" (clusters × labels, Hungarian-ordered; needs labels)."""
        from . import _plots

        return _plots.draw(self, kind, ax, **kwargs)
