"""`Index`: one caption index, loaded once and queried many times."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Optional, Union

import numpy as np

from . import _clusterby
from ._llm import Llm, as_llm
from ._runtime import ort_library
from ._result import Query, Result

if TYPE_CHECKING:
    import pandas as pd

    from ._images import ImageIndex

PathLike = Union[str, "os.PathLike[str]"]


class _Loaded:
    """What caption and image indexes share: the native index, its size, path and rows."""

    def __init__(self, native: object) -> None:
        self._native = native
        self._rows: Optional[tuple] = None

    def __len__(self) -> int:
        return len(self._native)

    @property
    def path(self) -> str:
        return os.fspath(self._native.path)

    def _columns(self) -> tuple:
        if self._rows is None:
            self._rows = self._native.rows()
        return self._rows

    def frame(self) -> "pd.DataFrame":
        """The index's rows: id, caption, label (None where unknown)."""
        import pandas as pd

        ids, captions, labels = self._columns()
        return pd.DataFrame({"id": ids, "caption": captions, "label": labels})


class Index(_Loaded):
    """A caption index (captions, labels, embeddings) with its text model in memory."""

    @classmethod
    def open(cls, path: PathLike, *, threads: Optional[int] = None) -> "Index":
        """Opens an index folder made by `clusterby index` or `Index.build`."""
        return cls(_clusterby.Index.open(os.fspath(path), ort_library(), threads))

    @classmethod
    def build(
        cls,
        captions: PathLike,
        out: PathLike,
        *,
        model: str = "all-MiniLM-L6-v2",
        threads: Optional[int] = None,
    ) -> "Index":
        """Indexes a captions file (JSONL with `id`, `caption`, optional `label`; CSV with the
        same columns; or IC|TC's `step1_result.jsonl`) into `out`, then opens it. Rows already
        in `out` are kept, so an interrupted build resumes."""
        _clusterby.build(os.fspath(captions), os.fspath(out), model, ort_library(), threads)
        return cls.open(out, threads=threads)

    @staticmethod
    def build_images(folder: PathLike, out: PathLike, **options: object) -> "ImageIndex":
        """Indexes a folder of images (CLIP embeddings, optional captions) and opens it as an
        `ImageIndex`; the options are `clusterby.build_images`'s."""
        from ._images import build_images

        return build_images(folder, out, **options)

    def __repr__(self) -> str:
        return f"clusterby.Index({self.path!r}, rows={len(self)})"

    def cluster(
        self,
        by: str,
        k: Optional[int] = None,
        *,
        method: str = "kmeans",
        seed: int = 42,
        exclude: Iterable[str] = (),
        conditioning: str = "values",
        min_cluster_size: Optional[int] = None,
        min_samples: Optional[int] = None,
        eps: Optional[float] = None,
        linkage: str = "ward",
        noise: str = "assign",
        k_max: Optional[int] = None,
        llm: Union[None, str, Llm] = None,
        namer: str = "keywords",
        strategy: str = "auto",
    ) -> Result:
        """Clusters the index by a criterion in words, with no LLM call.

        `k=None` chooses K (k-means, agglomerative) or lets density find it (hdbscan, dbscan);
        with `k`, hdbscan keeps the k most stable clusters of its condensed tree.
        `method`: "kmeans", "agglomerative", "hdbscan", "dbscan". `exclude`: criteria to ignore.
        `conditioning`: "values" (the default query) or "none" (plain caption embeddings).
        The density settings, `linkage` ("ward", "average", "complete", "single"), `noise`
        ("assign" or "keep") and `k_max` (the largest K automatic selection tries) are as in
        the CLI.

        `llm` (a `clusterby.Llm` or a base URL) is an endpoint: with `strategy="auto"` a k-means
        query spends its one call there (kept only if the answer passes the checks; "zero-call"
        never calls), and `namer="llm"` names the clusters with one call.
        """
        query = Query(by=by, k=k, seed=seed, exclude=tuple(exclude), conditioning=conditioning)
        settings = {"linkage": linkage, "noise": noise}
        for key, value in (
            ("min_cluster_size", min_cluster_size),
            ("min_samples", min_samples),
            ("eps", eps),
            ("k_max", k_max),
        ):
            if value is not None:
                settings[key] = value
        endpoint = as_llm(llm)
        raw = self._native.cluster(
            by, k, method, seed, list(exclude), conditioning,
            endpoint._native() if endpoint else None, namer, strategy, **settings,
        )
        return Result(self, raw, query)

    def ictc(
        self,
        by: str,
        k: int,
        llm: Union[str, Llm],
        *,
        cache: Optional[PathLike] = None,
        limit: Optional[int] = None,
    ) -> Result:
        """The IC|TC baseline (Kwon et al., 2024) over this index's captions: the LLM labels
        each caption by the criterion, merges the labels into `k` names and assigns every
        caption again, 2N+1 calls. Answers are cached (`cache`, default `INDEX/llm-cache.jsonl`),
        so an interrupted run resumes. `limit` takes the first N captions only."""
        endpoint = as_llm(llm)
        if endpoint is None:
            raise ValueError("ictc needs an LLM endpoint")
        raw = self._native.ictc(by, k, endpoint._native(), None if cache is None else os.fspath(cache), limit)
        return Result(self, raw, Query(by=by, k=k, seed=0, exclude=(), conditioning="values"))

    def features(
        self,
        by: str,
        k: Optional[int] = None,
        *,
        seed: int = 42,
        exclude: Iterable[str] = (),
        conditioning: str = "values",
    ) -> np.ndarray:
        """The criterion-conditioned rows a query clusters (unit length, float32, one row per
        caption in index order), read in place from clusterby's memory."""
        return np.asarray(self._native.features(by, k, seed, list(exclude), conditioning))
