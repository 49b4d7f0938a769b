#!/usr/bin/env python3
"""Distributed k-means assignment (`clusterby.ray assign`) beside the single-process query, on
one synthetic index, in one run.

    .venv/bin/python benches/ray_assign.py [--rows 1000000] [--k 20] [--dir target/ray-bench]

The index (unit rows around 50 random directions, 384-d, parts of 2,048 rows) is written once
with pyarrow and reused. Single process: `clusterby cluster INDEX -k K --conditioning none`
(loads the index, fits, assigns, names). Distributed: `assign` in Ray's local mode on the same
machine, Ray already started (its start is reported apart). The labels of both are compared.

    .venv/bin/python benches/ray_assign.py --by action --source INDEX [--rows 1000000]

The default query instead (values conditioning on the criterion): the index is the rows of
the caption index SOURCE (captions and embeddings) repeated to `--rows` with unique ids. Its
vocabulary is built once before timing (as `clusterby index` does for a real index).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def build(dir: pathlib.Path, rows: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (dir / "manifest.json").exists():
        return
    (dir / "parts").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, dim)).astype(np.float32)
    item = pa.field("item", pa.float32())
    parts = []
    for p, start in enumerate(range(0, rows, 2048)):
        n = min(2048, rows - start)
        c = rng.integers(0, 50, n)
        x = centres[c] + 1.5 * rng.standard_normal((n, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        ids = [f"r{i:08d}" for i in range(start, start + n)]
        emb = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), type=pa.list_(item, dim))
        t = pa.table({"id": ids, "caption": [f"synthetic row {i}" for i in range(start, start + n)],
                      "label": [str(v) for v in c], "embedding": emb})
        name = f"parts/part-{p:05d}.parquet"
        pq.write_table(t, dir / name)
        parts.append({"file": name, "rows": n})
    manifest = {"format": "clusterby-index", "version": 1, "model": "all-MiniLM-L6-v2", "dim": dim,
                "parts": parts, "rows": rows}
    (dir / "manifest.json").write_text(json.dumps(manifest))


def tiled(dir: pathlib.Path, source: pathlib.Path, rows: int) -> None:
    """The rows of the caption index `source`, repeated to `rows` with unique ids."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if (dir / "manifest.json").exists():
        return
    src = json.loads((source / "manifest.json").read_text())
    table = pa.concat_tables([pq.read_table(source / p["file"], columns=["id", "caption", "label", "embedding"])
                              for p in src["parts"]]).combine_chunks()
    (dir / "parts").mkdir(parents=True, exist_ok=True)
    parts = []
    for p, start in enumerate(range(0, rows, 2048)):
        n = min(2048, rows - start)
        take = pa.array(np.arange(start, start + n) % table.num_rows)
        t = table.take(take)
        ids = pc.binary_join_element_wise(t.column("id"), pa.array([f"#{i}" for i in range(start, start + n)]), "")
        t = t.set_column(0, "id", ids)
        name = f"parts/part-{p:05d}.parquet"
        pq.write_table(t, dir / name)
        parts.append({"file": name, "rows": n})
    manifest = {"format": "clusterby-index", "version": 1, "model": src["model"], "dim": src["dim"],
                "parts": parts, "rows": rows}
    (dir / "manifest.json").write_text(json.dumps(manifest))


def single(index: pathlib.Path, k: int, seed: int, out: pathlib.Path, by) -> tuple:
    cli = ROOT / "target" / "release" / "clusterby"
    query = ["--by", by] if by else ["--by", "anything", "--conditioning", "none"]
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", str(cli), "cluster", str(index), *query,
                        "-k", str(k), "--seed", str(seed), "--json", str(out)],
                       check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    rss = int(p.stderr.strip().splitlines()[-1]) * 1024
    return seconds, rss, [a["cluster"] for a in json.loads(out.read_text())["assignments"]]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", default=str(ROOT / "target" / "ray-bench"))
    ap.add_argument("--by", default=None, help="a criterion: the default query (needs --source)")
    ap.add_argument("--source", default=None, help="a caption index whose rows are repeated")
    a = ap.parse_args()
    base = pathlib.Path(a.dir)
    t = time.perf_counter()
    if a.by:
        if not a.source:
            ap.error("--by needs --source (a caption index)")
        index = base / f"tiled-{pathlib.Path(a.source).name}-{a.rows}"
        tiled(index, pathlib.Path(a.source), a.rows)
    else:
        index = base / f"index-{a.rows}"
        build(index, a.rows, a.dim)
    print(f"index: {a.rows} rows ({time.perf_counter() - t:.1f}s to write or find)", flush=True)

    import ray
    from clusterby import _clusterby, ray as cray
    from clusterby._runtime import ort_library

    if a.by:
        t = time.perf_counter()
        _clusterby.ConditioningPlan(str(index), a.by, a.k, a.seed, ort_library(), None)  # builds the vocabulary
        print(f"vocabulary: {time.perf_counter() - t:.1f}s (once per index)", flush=True)

    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    t_ray = time.perf_counter() - t
    # A warmed worker's resident set before it holds any part: what the task adds is the rest.
    @ray.remote(num_cpus=1)
    def idle_rss() -> int:
        import pyarrow.parquet  # noqa: F401
        import clusterby._clusterby  # noqa: F401
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))

    idle = max(ray.get([idle_rss.remote() for _ in range(os.cpu_count())]))
    res = base / "assign"
    t = time.perf_counter()
    r = cray.assign(index, a.k, res, by=a.by, seed=a.seed)
    t_dist = time.perf_counter() - t
    dist = cray.read_assignments(res)["cluster"].to_numpy()
    ray.shutdown()

    t_single, rss_single, labels = single(index, a.k, a.seed, base / "single.json", a.by)
    same = bool((np.asarray(labels) == dist).all())
    differ = int((np.asarray(labels) != dist).sum())
    part_bytes = 2048 * a.dim * 4
    print(json.dumps({
        "rows": a.rows, "k": a.k, "by": a.by, "cpus": os.cpu_count(), "same_labels": same, "rows_differing": differ,
        "single_process_s": round(t_single, 2), "single_process_peak_rss_mb": round(rss_single / 2**20),
        "distributed_s": round(t_dist, 2), "ratio": round(t_dist / t_single, 2),
        "distributed_first_pass_s": round(r["seconds"]["first_pass"], 2),
        "distributed_fit_s": round(r["seconds"]["fit"], 2), "distributed_assign_s": round(r["seconds"]["assign"], 2),
        "ray_start_s": round(t_ray, 2),
        "worker_peak_rss_mb": round((r["worker_peak_rss_bytes"] or 0) / 2**20),
        "worker_idle_rss_mb": round(idle / 2**20),
        "one_part_mb": round(part_bytes / 2**20, 1), "centres_mb": round(a.k * a.dim * 4 / 2**20, 3),
    }, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
