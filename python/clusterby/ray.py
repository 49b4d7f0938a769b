"""clusterby on a Ray cluster: sharded indexing, and k-means assignment part by part.

    python -m clusterby.ray index captions.jsonl --out INDEX --shards 8
    python -m clusterby.ray assign INDEX -k 20 --out RESULT

`index` runs one `clusterby index --shard I/N` per Ray task (one CPU slot each, or `--gpus`)
into `INDEX.shards/`, then merges the shards into INDEX (hard links, no copy). Every shard
resumes where it stopped, so rerunning after a failure redoes only what is missing.

`assign` fits k-means on the driver from a seeded sample of the index (the rows the
single-machine k-means reads), then assigns every part in a Ray task and writes the labels as
Parquet parts beside `result.json`. The labels equal those of `clusterby cluster --conditioning
none` with the same K and seed. Each task holds one part and the centres.

Paths must be visible to every node (NFS, or a mounted bucket). `--address` (or RAY_ADDRESS)
joins a running cluster; without one Ray starts locally.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

from . import _clusterby
from ._runtime import ort_library

RESULT_FORMAT = "clusterby-assign"


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SystemExit("clusterby.ray needs Ray: pip install 'ray>=2.9'") from e
    return ray


def _init(address: Optional[str], num_cpus: Optional[int]) -> None:
    ray = _ray()
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": num_cpus}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)


def shard_dirs(out: str, shards: int) -> List[str]:
    base = os.fspath(out).rstrip("/") + ".shards"
    return [os.path.join(base, f"shard-{i:04d}-of-{shards:04d}") for i in range(shards)]


def index(
    captions: str,
    out: str,
    shards: int,
    *,
    model: str = "all-MiniLM-L6-v2",
    threads_per_shard: int = 1,
    gpus_per_shard: float = 0,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
) -> dict:
    """Indexes `captions` as `shards` Ray tasks, then merges them into `out`."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    _init(address, num_cpus)
    ray = _ray()
    captions, out = os.path.abspath(captions), os.path.abspath(out)
    dirs = shard_dirs(out, shards)

    @ray.remote(num_cpus=threads_per_shard, num_gpus=gpus_per_shard, max_retries=2)
    def one(i: int, d: str) -> float:
        t = time.perf_counter()
        _clusterby.build(captions, d, model, ort_library(), threads_per_shard, f"{i}/{shards}")
        return time.perf_counter() - t

    t = time.perf_counter()
    seconds = ray.get([one.remote(i, d) for i, d in enumerate(dirs)])
    t_shards = time.perf_counter() - t
    _clusterby.merge(dirs, out, ort_library(), None)
    return {"shards": shards, "shard_seconds": seconds, "indexing_seconds": t_shards,
            "total_seconds": time.perf_counter() - t, "out": out}


def _parts(index_dir: str) -> tuple:
    with open(os.path.join(index_dir, "manifest.json")) as f:
        m = json.load(f)
    if any(p.get("replaces") for p in m["parts"]):
        raise ValueError(f"{index_dir}: parts that replace rows (an image index that was updated) "
                         "cannot be assigned part by part")
    offsets = np.concatenate([[0], np.cumsum([p["rows"] for p in m["parts"]])]).astype(int)
    return m, offsets


def _read_embeddings(path: str, dim: int) -> tuple:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["id", "embedding"])
    flat = t.column("embedding").combine_chunks().flatten().to_numpy()
    return t.column("id").to_pylist(), np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, dim)


def _fit_sample(ray, index_dir: str, m: dict, offsets: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The rows the single-machine fit reads, each part's share fetched by a Ray task."""
    n, dim = int(offsets[-1]), m["dim"]
    rows = np.asarray(_clusterby.kmeans_fit_rows(n, k, seed), dtype=np.int64)
    part_of = np.searchsorted(offsets, rows, side="right") - 1

    @ray.remote(num_cpus=1, max_retries=2)
    def fetch(p: int, local: np.ndarray) -> np.ndarray:
        _, x = _read_embeddings(os.path.join(index_dir, m["parts"][p]["file"]), dim)
        return x[local]

    wanted = np.unique(part_of)
    got = ray.get([fetch.remote(int(p), rows[part_of == p] - offsets[p]) for p in wanted])
    # Rows are ascending, so the parts' shares concatenate in the fit's order.
    return np.concatenate(got).astype(np.float32, copy=False) if got else np.empty((0, dim), np.float32)


def assign(
    index_dir: str,
    k: int,
    out: str,
    *,
    seed: int = 42,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
) -> dict:
    """k-means of the index's caption embeddings: fit on the driver, parts assigned in Ray tasks.
    Writes `out/result.json`, `out/centres.npy` and `out/assignments/part-*.parquet` (id, cluster)."""
    _init(address, num_cpus)
    ray = _ray()
    index_dir, out = os.path.abspath(index_dir), os.path.abspath(out)
    m, offsets = _parts(index_dir)
    n, dim = int(offsets[-1]), m["dim"]
    t0 = time.perf_counter()
    sample = _fit_sample(ray, index_dir, m, offsets, k, seed)
    fm = _clusterby.kmeans_centres(sample.tobytes(), sample.shape[0], dim, n, k, seed)
    centres = np.array(np.asarray(fm), dtype=np.float32)
    t_fit = time.perf_counter() - t0
    os.makedirs(os.path.join(out, "assignments"), exist_ok=True)
    centres_ref = ray.put(centres)

    @ray.remote(num_cpus=1, max_retries=2)
    def part(p: int, centres: np.ndarray) -> tuple:
        ids, x = _read_embeddings(os.path.join(index_dir, m["parts"][p]["file"]), dim)
        raw, unit = _clusterby.nearest_centres(x.tobytes(), x.shape[0], centres.tobytes(), k, dim)
        raw = np.asarray(raw, dtype=np.int64)
        first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, raw, np.arange(len(raw)) + offsets[p])
        _write_parquet(_raw_path(out, p), ids, raw)
        return np.bincount(raw, minlength=k), first, unit, _peak_rss()

    t1 = time.perf_counter()
    stats = ray.get([part.remote(p, centres_ref) for p in range(len(m["parts"]))])
    if not all(s[2] for s in stats):
        raise ValueError(f"{index_dir}: rows are not unit vectors; k-means would normalise all of "
                         "them first, which part-by-part assignment does not reproduce")
    counts = np.sum([s[0] for s in stats], axis=0)
    first = np.min([s[1] for s in stats], axis=0)
    # Cluster ids by size, as the single-machine query numbers them (ties: earlier first row).
    order = np.asarray(_clusterby.order_by_size([int(c) for c in counts], [int(f) for f in first]))

    @ray.remote(num_cpus=1, max_retries=2)
    def relabel(p: int) -> str:
        import pyarrow.parquet as pq

        t = pq.read_table(_raw_path(out, p))
        name = f"assignments/part-{p:05d}.parquet"
        _write_parquet(os.path.join(out, name), t.column("id").to_pylist(),
                       order[t.column("cluster").to_numpy()])
        os.remove(_raw_path(out, p))
        return name

    files = ray.get([relabel.remote(p) for p in range(len(m["parts"]))])
    t_assign = time.perf_counter() - t1
    ordered = np.zeros_like(centres)
    ordered[order[order >= 0]] = centres[order >= 0]
    np.save(os.path.join(out, "centres.npy"), ordered[: int((order >= 0).sum())])
    result = {
        "format": RESULT_FORMAT, "version": 1, "index": index_dir, "method": "kmeans",
        "conditioning": "none", "k": k, "seed": seed, "rows": n, "fit_rows": int(sample.shape[0]),
        "sizes": [int(c) for c in sorted(counts[counts > 0], reverse=True)],
        "centres": "centres.npy", "assignments": files,
        "seconds": {"fit": t_fit, "assign": t_assign},
        # The largest resident set any assigning worker reached (Linux; None elsewhere).
        "worker_peak_rss_bytes": max((s[3] for s in stats if s[3] is not None), default=None),
    }
    _write_json(os.path.join(out, "result.json"), result)
    return result


def _peak_rss() -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _raw_path(out: str, p: int) -> str:
    return os.path.join(out, "assignments", f".raw-{p:05d}.parquet")


def _write_parquet(path: str, ids: Sequence[str], labels: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + f".{os.getpid()}.tmp")
    pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "cluster": pa.array(labels, pa.int64())}), tmp)
    os.replace(tmp, path)


def _write_json(path: str, obj: dict) -> None:
    tmp = path + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def read_assignments(result_dir: str):
    """The assignments of `assign` as one pandas DataFrame (id, cluster), in index order."""
    import pandas as pd

    with open(os.path.join(result_dir, "result.json")) as f:
        r = json.load(f)
    return pd.concat([pd.read_parquet(os.path.join(result_dir, p)) for p in r["assignments"]],
                     ignore_index=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m clusterby.ray", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("index", help="index a captions file as Ray tasks, one per shard, then merge")
    a.add_argument("captions")
    a.add_argument("--out", "-o", required=True)
    a.add_argument("--shards", type=int, required=True)
    a.add_argument("--model", default="all-MiniLM-L6-v2")
    a.add_argument("--threads-per-shard", type=int, default=1)
    a.add_argument("--gpus-per-shard", type=float, default=0)
    b = sub.add_parser("assign", help="k-means fitted on the driver, parts assigned in Ray tasks")
    b.add_argument("index")
    b.add_argument("-k", type=int, required=True)
    b.add_argument("--out", "-o", required=True)
    b.add_argument("--seed", type=int, default=42)
    for p in (a, b):
        p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                       help="a running Ray cluster (default: start Ray locally)")
        p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "index":
            r = index(args.captions, args.out, args.shards, model=args.model,
                      threads_per_shard=args.threads_per_shard, gpus_per_shard=args.gpus_per_shard,
                      address=args.address, num_cpus=args.num_cpus)
        else:
            r = assign(args.index, args.k, args.out, seed=args.seed, address=args.address,
                       num_cpus=args.num_cpus)
    except (_clusterby.ClusterbyError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
