"""Where ONNX Runtime's shared library is: the `onnxruntime` Python package's own copy."""
from __future__ import annotations

import glob
import os
from typing import Optional

_NAMES = ("libonnxruntime.so*", "libonnxruntime*.dylib", "onnxruntime.dll")


def ort_library() -> Optional[str]:
    """`CLUSTERBY_ORT_LIB` / `ORT_DYLIB_PATH` when set, else the library inside the installed
    `onnxruntime` package, else None (clusterby then looks where its CLI looks)."""
    for var in ("CLUSTERBY_ORT_LIB", "ORT_DYLIB_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import onnxruntime
    except ImportError:
        return None
    capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
    for pattern in _NAMES:
        found = sorted(glob.glob(os.path.join(capi, pattern)))
        if found:
            return found[0]
    return None
