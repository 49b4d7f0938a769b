"""clusterby: cluster a collection by a criterion stated in words, and name the clusters.

    import clusterby
    idx = clusterby.Index.build("captions.jsonl", "my-index")   # or clusterby.Index.open("my-index")
    r = idx.cluster(by="mood", k=5)
    r.assignments      # pandas DataFrame: id, cluster, name, caption, label
    r.clusters         # pandas DataFrame: cluster, name, size, keywords, examples
    r.features         # numpy array: the criterion-conditioned rows that were clustered
    r.eval()           # ACC, NMI, ARI against the index's labels
    r.plot()           # matplotlib: 2-D map, cluster sizes, confusion matrix

The index and its text model stay in memory, so each query costs what the Rust query costs.
"""
from ._clusterby import ClusterbyError, __version__
from ._images import ImageIndex, build_images
from ._index import Index
from ._llm import Llm
from ._result import Conditioning, DensitySettings, Result, Scores, Setting

__all__ = [
    "ClusterbyError",
    "Conditioning",
    "DensitySettings",
    "ImageIndex",
    "Index",
    "Llm",
    "Result",
    "Scores",
    "Setting",
    "build_images",
    "__version__",
]
