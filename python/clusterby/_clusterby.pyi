"""Type stubs of the native module (src/python/, built by maturin with the `python` feature)."""
from typing import Dict, List, Optional, Sequence, Tuple

__version__: str

class ClusterbyError(Exception):
    """An error reported by clusterby, with the CLI's message."""

class FeatureMatrix:
    """A row-major float32 matrix that numpy reads in place."""

    @property
    def shape(self) -> Tuple[int, int]: ...
    @property
    def __array_interface__(self) -> dict: ...

class Index:
    @staticmethod
    def open(path: str, ort_lib: Optional[str] = None, threads: Optional[int] = None) -> "Index": ...
    def __len__(self) -> int: ...
    @property
    def path(self) -> str: ...
    def rows(self) -> Tuple[List[str], List[str], List[Optional[str]]]: ...
    def cluster(
        self,
        by: str,
        k: Optional[int] = None,
        method: str = "kmeans",
        seed: int = 42,
        exclude: Sequence[str] = ...,
        conditioning: str = "values",
        llm: Optional[Tuple[str, str, str]] = None,
        namer: str = "keywords",
        strategy: str = "auto",
        **settings: object,
    ) -> str: ...
    def ictc(
        self,
        by: str,
        k: int,
        llm: Tuple[str, str, str],
        cache: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> str: ...
    def features(
        self,
        by: str,
        k: Optional[int] = None,
        seed: int = 42,
        exclude: Sequence[str] = ...,
        conditioning: str = "values",
    ) -> FeatureMatrix: ...

def build(
    input: str,
    out: str,
    model: str = "all-MiniLM-L6-v2",
    ort_lib: Optional[str] = None,
    threads: Optional[int] = None,
    shard: Optional[str] = None,
) -> None: ...
def merge(sources: List[str], out: str, ort_lib: Optional[str] = None, threads: Optional[int] = None) -> None: ...
def kmeans_fit_rows(n: int, k: int, seed: int) -> List[int]: ...
def kmeans_centres(sample: bytes, rows: int, cols: int, n: int, k: int, seed: int) -> FeatureMatrix: ...
def nearest_centres(x: bytes, rows: int, centres: bytes, k: int, cols: int) -> Tuple[List[int], bool]: ...
def order_by_size(counts: List[int], first_row: List[int]) -> List[int]: ...

class ConditioningPlan:
    def __init__(
        self, index: str, by: str, k: int, seed: int = 42, ort_lib: Optional[str] = None, threads: Optional[int] = None
    ) -> None: ...
    def state(self) -> bytes: ...
    def occurrences(self, start: int, end: int) -> Tuple[bytes, bytes]: ...
    def set_mean(self, sum: List[float]) -> None: ...
    def agreement_rows(self) -> List[int]: ...
    def set_caption_weight(self, captions: bytes, rows: int, cols: int) -> float: ...
    def rows(self, captions: bytes, rows: List[int], cols: int) -> Tuple[FeatureMatrix, bool]: ...
    @property
    def values(self) -> List[str]: ...
    @property
    def caption_weight(self) -> Optional[float]: ...

def condition_raw_sum(state: bytes, captions: bytes, rows: int, cols: int, offsets: bytes, ids: bytes) -> List[float]: ...
def condition_nearest(
    state: bytes, captions: bytes, rows: int, cols: int, offsets: bytes, ids: bytes, centres: bytes, k: int
) -> List[int]: ...
def score(assignments: List[Tuple[str, int]], labels: Dict[str, str]) -> Tuple[float, float, float, int, int]: ...

class ImageIndex:
    @staticmethod
    def open(path: str, ort_lib: Optional[str] = None, threads: Optional[int] = None) -> "ImageIndex": ...
    def __len__(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def captioned(self) -> int: ...
    def rows(self) -> Tuple[List[str], List[Optional[str]], List[Optional[str]]]: ...
    def cluster(
        self,
        by: str,
        k: Optional[int] = None,
        method: str = "kmeans",
        seed: int = 42,
        exclude: Sequence[str] = ...,
        conditioning: str = "values",
        space: Optional[str] = None,
        llm: Optional[Tuple[str, str, str]] = None,
        namer: str = "keywords",
        **settings: object,
    ) -> str: ...
    def features(
        self,
        by: str,
        k: Optional[int] = None,
        seed: int = 42,
        exclude: Sequence[str] = ...,
        conditioning: str = "values",
        space: Optional[str] = None,
    ) -> FeatureMatrix: ...

def build_images(
    folder: str,
    out: str,
    clip: str = "clip-vit-base-patch32",
    text_model: str = "all-MiniLM-L6-v2",
    labels: Optional[str] = None,
    label_column: Optional[str] = None,
    captions: Optional[str] = None,
    captioners: List[Tuple[str, str, str]] = ...,
    caption_prompt: Optional[str] = None,
    batch_size: int = 32,
    ort_lib: Optional[str] = None,
    threads: Optional[int] = None,
    shard: Optional[str] = None,
) -> None: ...
