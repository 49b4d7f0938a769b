"""`ImageIndex`: a folder of images indexed once (CLIP embeddings, optional captions), queried
many times in the image, caption or joined space."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Union

from . import _clusterby
from ._index import _Loaded
from ._llm import Llm, as_llm
from ._result import Query, Result
from ._runtime import ort_library

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PathLike = Union[str, "os.PathLike[str]"]


class ImageIndex(_Loaded):
    """An image index (see `Index.build_images`) with CLIP's text encoder in memory; its rows'
    ids are the images' paths in the folder, captions None where an image has none."""

    @classmethod
    def open(cls, path: PathLike, *, threads: Optional[int] = None) -> "ImageIndex":
        """Opens an image index folder made by `clusterby index FOLDER` or `Index.build_images`."""
        return cls(_clusterby.ImageIndex.open(os.fspath(path), ort_library(), threads))

    def __repr__(self) -> str:
        return f"clusterby.ImageIndex({self.path!r}, images={len(self)}, captioned={self.captioned})"

    @property
    def captioned(self) -> int:
        """How many images have a caption."""
        return self._native.captioned

    def cluster(
        self,
        by: str,
        k: Optional[int] = None,
        *,
        method: str = "kmeans",
        seed: int = 42,
        exclude: Iterable[str] = (),
        conditioning: str = "values",
        space: Optional[str] = None,
        llm: Union[None, str, Llm] = None,
        namer: str = "keywords",
        **settings: object,
    ) -> Result:
        """Clusters the images by a criterion in words. `space`: "image" (CLIP), "caption" or
        "both" (default: both when every image has a caption, else image). Other arguments as
        in `Index.cluster`; `namer="llm"` names the clusters with one call to `llm`."""
        endpoint = as_llm(llm)
        raw = self._native.cluster(
            by, k, method, seed, list(exclude), conditioning, space,
            endpoint._native() if endpoint else None, namer, **settings,
        )
        return Result(self, raw, Query(by=by, k=k, seed=seed, exclude=tuple(exclude), conditioning=conditioning))

    def features(
        self,
        by: str,
        k: Optional[int] = None,
        *,
        seed: int = 42,
        exclude: Iterable[str] = (),
        conditioning: str = "values",
        space: Optional[str] = None,
    ) -> "np.ndarray":
        """The features a query with these settings clusters (one row per image, float32, read
        in place): the criterion's values over CLIP, the conditioned captions, or both joined."""
        import numpy as np

        return np.asarray(self._native.features(by, k, seed, list(exclude), conditioning, space))


def build_images(
    folder: PathLike,
    out: PathLike,
    *,
    clip: str = "clip-vit-base-patch32",
    text_model: str = "all-MiniLM-L6-v2",
    labels: Optional[PathLike] = None,
    label_column: Optional[str] = None,
    captions: Optional[PathLike] = None,
    captioners: Sequence[Union[str, Llm]] = (),
    caption_prompt: Optional[str] = None,
    batch_size: int = 32,
    threads: Optional[int] = None,
) -> ImageIndex:
    """Indexes the images under `folder` into `out` (CLIP embeddings; files already indexed and
    unchanged are skipped), then opens it. Captions come from a file (`captions`: ids matched
    to image paths) or from vision endpoints (`captioners`: one model, one or more servers).
    Labels come from file names (`{n}_{class}.png`) or a CSV (`labels`, `label_column`)."""
    f = lambda p: None if p is None else os.fspath(p)  # noqa: E731
    endpoints = [as_llm(c)._native() for c in captioners]
    _clusterby.build_images(
        os.fspath(folder), os.fspath(out), clip, text_model, f(labels), label_column, f(captions),
        endpoints, caption_prompt, batch_size, ort_library(), threads,
    )
    return ImageIndex.open(out, threads=threads)
