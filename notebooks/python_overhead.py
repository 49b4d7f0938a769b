"""What a query costs from Python next to the Rust query inside it, on a 10k-caption index.

    .venv/bin/python notebooks/python_overhead.py [INDEX] [CRITERION] [K]
    (default: target/ablation/captions/cifar10, which `clusterby ablate` builds; object; 10)

Per query: the Python wall time of `idx.cluster(...)` (call, Rust query, result JSON,
json.loads) and, inside it, the Rust query's own `timings_ms.total`. Then the CLI route a
notebook would otherwise take (subprocess, model load, query, JSON written and read back).
Medians of 11 after one warm-up."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import clusterby

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
index = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/ablation/captions/cifar10")
by = sys.argv[2] if len(sys.argv) > 2 else "object"
k = int(sys.argv[3]) if len(sys.argv) > 3 else 10

idx = clusterby.Index.open(index)
idx.cluster(by=by, k=k)  # warm-up: caches the criterion's phrases and the coarse partition
py, rust = [], []
for _ in range(11):
    t = time.perf_counter()
    r = idx.cluster(by=by, k=k)
    py.append((time.perf_counter() - t) * 1e3)
    rust.append(r.raw["timings_ms"]["total"])
cli = []
binary = os.path.join(ROOT, "target/release/clusterby")
for _ in range(5):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        t = time.perf_counter()
        subprocess.run([binary, "cluster", index, "--by", by, "-k", str(k), "--json", out], check=True, capture_output=True)
        json.load(open(out))
        cli.append((time.perf_counter() - t) * 1e3)
m = statistics.median
print(f"index {index}: {len(idx)} captions, by {by!r}, k={k}")
print(f"| route | median ms | ratio to the Rust query |")
print(f"|---|---|---|")
print(f"| Rust query (timings_ms.total) | {m(rust):.1f} | 1.00 |")
print(f"| Python idx.cluster | {m(py):.1f} | {m(py) / m(rust):.2f} |")
print(f"| CLI subprocess + JSON | {m(cli):.1f} | {m(cli) / m(rust):.2f} |")
