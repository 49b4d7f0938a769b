"""clusterby on a Ray cluster: sharded indexing, and k-means assignment part by part.

    python -m clusterby.ray index captions.jsonl --out INDEX --shards 8
    python -m clusterby.ray assign INDEX --by mood -k 20 --out RESULT

`index` runs one `clusterby index --shard I/N` per Ray task (one CPU slot each, or `--gpus`)
into `INDEX.shards/`, then merges the shards into INDEX (hard links, no copy). The input is a
captions file (shards by id) or a folder of images (shards by path; CLIP embeddings, captions
imported with `--captions`). Every shard resumes where it stopped, so rerunning after a
failure redoes only what is missing.

`assign --by CRITERION` is the default query (`clusterby cluster --by CRITERION -k K`) part by
part: a first pass of Ray tasks sums the parts' value vectors (for the conditioning's mean) and
returns the rows the caption weight and the fit are measured on; the driver fits k-means on
them, then a second pass conditions every part and assigns it, and the labels are written as
Parquet parts beside `result.json`. Without `--by`, the caption embeddings alone (`--conditioning
none`). The labels equal the single-machine query's with the same K and seed. Each task holds
one part at a time, the centres and the conditioning state.

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
    clip: str = "clip-vit-base-patch32",
    labels: Optional[str] = None,
    label_column: Optional[str] = None,
    import_captions: Optional[str] = None,
    threads_per_shard: int = 1,
    gpus_per_shard: float = 0,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
) -> dict:
    """Indexes `captions` (a captions file, or a folder of images) as `shards` Ray tasks, then
    merges them into `out`. An image folder is sharded by each image's path under it; `clip`,
    `labels`/`label_column` (a CSV) and `import_captions` (a captions file whose ids are those
    paths) apply to it as to `clusterby index FOLDER`."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    _init(address, num_cpus)
    ray = _ray()
    captions, out = os.path.abspath(captions), os.path.abspath(out)
    dirs = shard_dirs(out, shards)
    folder = os.path.isdir(captions)
    if not folder and (labels or label_column or import_captions):
        raise ValueError("labels, label_column and import_captions apply to an image folder")
    abs_or_none = lambda p: os.path.abspath(p) if p else None  # noqa: E731
    labels, import_captions = abs_or_none(labels), abs_or_none(import_captions)

    @ray.remote(num_cpus=threads_per_shard, num_gpus=gpus_per_shard, max_retries=2)
    def one(i: int, d: str) -> float:
        t = time.perf_counter()
        shard = f"{i}/{shards}"
        if folder:
            _clusterby.build_images(captions, d, clip=clip, text_model=model, labels=labels,
                                    label_column=label_column, captions=import_captions,
                                    ort_lib=ort_library(), threads=threads_per_shard, shard=shard)
        else:
            _clusterby.build(captions, d, model, ort_library(), threads_per_shard, shard)
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


def _runs(ray, n_parts: int, per: Optional[int] = None) -> List[range]:
    """Contiguous runs of `per` parts, one Ray task each; by default four runs per CPU slot, so
    that a task's fixed cost (a few ms) is paid tens of times, not once per 2,048-row part. A
    task still holds one part at a time."""
    if per is None:
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        per = -(-n_parts // (4 * slots))
    per = max(1, per)
    return [range(s, min(s + per, n_parts)) for s in range(0, n_parts, per)]


def _local(rows: np.ndarray, offsets: np.ndarray, p: int) -> np.ndarray:
    """The rows (ascending, index numbering) that fall in part `p`, numbered within it."""
    return rows[(rows >= offsets[p]) & (rows < offsets[p + 1])] - offsets[p]


def _occurrences_of(occ: tuple, start: int, end: int) -> tuple:
    """Rows `start..end` of a run's occurrences (`ConditioningPlan.occurrences` bytes)."""
    off = np.frombuffer(occ[0], "<u8")
    lo, hi = int(off[start]), int(off[end])
    return (off[start:end + 1] - off[start]).astype("<u8").tobytes(), occ[1][4 * lo:4 * hi]


def _fetch_rows(ray, index_dir: str, m: dict, offsets: np.ndarray, rows: Sequence[int],
                runs: List[range]) -> np.ndarray:
    """Caption embeddings of the index rows `rows` (ascending), fetched by Ray tasks."""
    dim = m["dim"]
    rows = np.asarray(rows, dtype=np.int64)

    @ray.remote(num_cpus=1, max_retries=2)
    def fetch(run: range) -> np.ndarray:
        got = [np.empty((0, dim), np.float32)]
        for p in run:
            local = _local(rows, offsets, p)
            if len(local):
                got.append(_read_embeddings(os.path.join(index_dir, m["parts"][p]["file"]), dim)[1][local])
        return np.concatenate(got)

    # Rows are ascending, so the runs' shares concatenate in the rows' order.
    return np.concatenate([np.empty((0, dim), np.float32)]
                          + ray.get([fetch.remote(r) for r in runs]))


def _condition(ray, plan, index_dir: str, m: dict, offsets: np.ndarray, fit_rows: Sequence[int],
               runs: List[range]) -> tuple:
    """Completes `plan` in one pass over the parts: each task sums its rows' raw value vectors
    (the driver adds them into the mean) and returns its share of the caption-weight sample and
    of the fit sample. Returns each run's occurrences (Ray object references) and the fit
    sample's caption embeddings, in `fit_rows` order."""
    dim = m["dim"]
    occ = [ray.put(plan.occurrences(int(offsets[r.start]), int(offsets[r.stop]))) for r in runs]
    state = ray.put(plan.state())
    agreement, fit = np.asarray(plan.agreement_rows(), np.int64), np.asarray(fit_rows, np.int64)

    @ray.remote(num_cpus=1, max_retries=2)
    def first_pass(run: range, state: bytes, occ: tuple) -> tuple:
        total, a, f = None, [np.empty((0, dim), np.float32)], [np.empty((0, dim), np.float32)]
        for p in run:
            _, x = _read_embeddings(os.path.join(index_dir, m["parts"][p]["file"]), dim)
            mine = _occurrences_of(occ, offsets[p] - offsets[run.start], offsets[p + 1] - offsets[run.start])
            s = np.asarray(_clusterby.condition_raw_sum(state, x.tobytes(), x.shape[0], dim, *mine), np.float32)
            total = s if total is None else total + s  # part by part, in float32, as one pass adds them
            a.append(x[_local(agreement, offsets, p)])
            f.append(x[_local(fit, offsets, p)])
        return total, np.concatenate(a), np.concatenate(f)

    got = ray.get([first_pass.remote(r, state, o) for r, o in zip(runs, occ)])
    total = np.zeros_like(got[0][0])
    for run_sum, _, _ in got:
        total += run_sum
    plan.set_mean([float(v) for v in total])
    # Rows are ascending, so the runs' shares concatenate in the samples' order.
    sample = np.concatenate([g[1] for g in got])
    plan.set_caption_weight(sample.tobytes(), sample.shape[0], dim)
    return occ, np.concatenate([g[2] for g in got])


def _assign_parts(ray, index_dir: str, m: dict, offsets: np.ndarray, out: str, runs: List[range],
                  centres: np.ndarray, state, occ: list) -> tuple:
    """Assigns every part to its nearest centre (conditioned first when `state` is given),
    numbers the clusters by size across parts and writes `assignments/part-*.parquet`.
    Returns the files, the counts per raw cluster, the order (raw cluster -> final label) and
    the largest resident set a task reached."""
    k, dim = centres.shape[0], m["dim"]
    centres_ref = ray.put(centres)

    @ray.remote(num_cpus=1, max_retries=2)
    def nearest(run: range, centres: np.ndarray, state: Optional[bytes], occ: Optional[tuple]) -> tuple:
        counts, first, unit = np.zeros(k, np.int64), np.full(k, np.iinfo(np.int64).max, np.int64), True
        for p in run:
            ids, x = _read_embeddings(os.path.join(index_dir, m["parts"][p]["file"]), dim)
            if state is None:
                raw, part_unit = _clusterby.nearest_centres(x.tobytes(), x.shape[0], centres.tobytes(), k, dim)
            else:
                mine = _occurrences_of(occ, offsets[p] - offsets[run.start], offsets[p + 1] - offsets[run.start])
                # Conditioned rows are normalised as the single-machine fit normalises them.
                raw, part_unit = _clusterby.condition_nearest(state, x.tobytes(), x.shape[0], dim, *mine,
                                                              centres.tobytes(), k), True
            raw = np.asarray(raw, dtype=np.int64)
            np.minimum.at(first, raw, np.arange(len(raw)) + offsets[p])
            counts += np.bincount(raw, minlength=k)
            unit &= part_unit
            _write_parquet(_raw_path(out, p), ids, raw)
        return counts, first, unit, _peak_rss()

    stats = ray.get([nearest.remote(r, centres_ref, state, o) for r, o in zip(runs, occ)])
    if not all(s[2] for s in stats):
        raise ValueError(f"{index_dir}: rows are not unit vectors; k-means would normalise all of "
                         "them first, which part-by-part assignment does not reproduce")
    counts = np.sum([s[0] for s in stats], axis=0)
    first = np.min([s[1] for s in stats], axis=0)
    # Cluster ids by size, as the single-machine query numbers them (ties: earlier first row).
    order = np.asarray(_clusterby.order_by_size([int(c) for c in counts], [int(f) for f in first]))

    @ray.remote(num_cpus=1, max_retries=2)
    def relabel(run: range) -> List[str]:
        import pyarrow.parquet as pq

        names = []
        for p in run:
            t = pq.read_table(_raw_path(out, p))
            names.append(f"assignments/part-{p:05d}.parquet")
            _write_parquet(os.path.join(out, names[-1]), t.column("id").to_pylist(),
                           order[t.column("cluster").to_numpy()])
            os.remove(_raw_path(out, p))
        return names

    files = [f for names in ray.get([relabel.remote(r) for r in runs]) for f in names]
    peak = max((s[3] for s in stats if s[3] is not None), default=None)
    return files, counts, order, peak


def assign(
    index_dir: str,
    k: int,
    out: str,
    *,
    by: Optional[str] = None,
    seed: int = 42,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
    parts_per_task: Optional[int] = None,
) -> dict:
    """k-means fitted on the driver, parts assigned in Ray tasks: of the rows conditioned on the
    criterion `by` (the labels of `Index.cluster(by, k=k, seed=seed)`), or of the caption
    embeddings alone without one (`conditioning="none"`). Writes `out/result.json`,
    `out/centres.npy` and `out/assignments/part-*.parquet` (id, cluster). Each Ray task takes
    `parts_per_task` consecutive parts, one at a time (default: four tasks per CPU slot)."""
    _init(address, num_cpus)
    ray = _ray()
    index_dir, out = os.path.abspath(index_dir), os.path.abspath(out)
    m, offsets = _parts(index_dir)
    n, dim = int(offsets[-1]), m["dim"]
    t0 = time.perf_counter()
    fit_rows = _clusterby.kmeans_fit_rows(n, k, seed)
    plan, runs = None, _runs(ray, len(m["parts"]), parts_per_task)
    if by is None:
        occ = [None] * len(runs)
        sample = _fetch_rows(ray, index_dir, m, offsets, fit_rows, runs)
    else:
        plan = _clusterby.ConditioningPlan(index_dir, by, k, seed, ort_library(), None)
        occ, sample = _condition(ray, plan, index_dir, m, offsets, fit_rows, runs)
        fm, _ = plan.rows(sample.tobytes(), fit_rows, dim)
        sample = np.array(np.asarray(fm), dtype=np.float32)
    t_first = time.perf_counter() - t0
    width = sample.shape[1]
    fm = _clusterby.kmeans_centres(sample.tobytes(), sample.shape[0], width, n, k, seed)
    centres = np.array(np.asarray(fm), dtype=np.float32)
    t_fit = time.perf_counter() - t0 - t_first
    os.makedirs(os.path.join(out, "assignments"), exist_ok=True)
    state = ray.put(plan.state()) if plan is not None else None
    t1 = time.perf_counter()
    files, counts, order, peak_rss = _assign_parts(ray, index_dir, m, offsets, out, runs, centres, state, occ)
    t_assign = time.perf_counter() - t1
    ordered = np.zeros_like(centres)
    ordered[order[order >= 0]] = centres[order >= 0]
    np.save(os.path.join(out, "centres.npy"), ordered[: int((order >= 0).sum())])
    result = {
        "format": RESULT_FORMAT, "version": 1, "index": index_dir, "method": "kmeans",
        "conditioning": "none" if plan is None else "values", "criterion": by,
        "criterion_values": None if plan is None else plan.values,
        "caption_weight": None if plan is None else plan.caption_weight,
        "k": k, "seed": seed, "rows": n, "fit_rows": int(sample.shape[0]),
        "sizes": [int(c) for c in sorted(counts[counts > 0], reverse=True)],
        "centres": "centres.npy", "assignments": files,
        "seconds": {"first_pass": t_first, "fit": t_fit, "assign": t_assign},
        # The largest resident set any assigning worker reached (Linux; None elsewhere).
        "worker_peak_rss_bytes": peak_rss,
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
    a = sub.add_parser("index", help="index a captions file or an image folder as Ray tasks, one per shard, then merge")
    a.add_argument("captions", help="a captions file, or a folder of images")
    a.add_argument("--clip", default="clip-vit-base-patch32", help="image folders: the CLIP model")
    a.add_argument("--labels", default=None, help="image folders: a CSV of labels")
    a.add_argument("--label-column", default=None, help="image folders: the CSV's label column")
    a.add_argument("--captions", dest="import_captions", default=None,
                   help="image folders: captions to import (ids are the images' paths)")
    a.add_argument("--out", "-o", required=True)
    a.add_argument("--shards", type=int, required=True)
    a.add_argument("--model", default="all-MiniLM-L6-v2")
    a.add_argument("--threads-per-shard", type=int, default=1)
    a.add_argument("--gpus-per-shard", type=float, default=0)
    b = sub.add_parser("assign", help="k-means fitted on the driver, parts assigned in Ray tasks")
    b.add_argument("index")
    b.add_argument("-k", type=int, required=True)
    b.add_argument("--parts-per-task", type=int, default=None,
                   help="consecutive parts per Ray task, one at a time (default: four tasks per CPU)")
    b.add_argument("--by", default=None,
                   help="the criterion (as `clusterby cluster --by`); without it, the caption embeddings alone")
    b.add_argument("--out", "-o", required=True)
    b.add_argument("--seed", type=int, default=42)
    for p in (a, b):
        p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                       help="a running Ray cluster (default: start Ray locally)")
        p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "index":
            r = index(args.captions, args.out, args.shards, model=args.model, clip=args.clip,
                      labels=args.labels, label_column=args.label_column, import_captions=args.import_captions,
                      threads_per_shard=args.threads_per_shard, gpus_per_shard=args.gpus_per_shard,
                      address=args.address, num_cpus=args.num_cpus)
        else:
            r = assign(args.index, args.k, args.out, by=args.by, seed=args.seed, address=args.address,
                       num_cpus=args.num_cpus, parts_per_task=args.parts_per_task)
    except (_clusterby.ClusterbyError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
