"""`clusterby.ray` in Ray's local mode: sharded indexing, a shard killed and rerun, and the
distributed k-means assignment against the single-machine query."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import clusterby
from conftest import ROOT, need

STANFORD = ROOT.parent / "shared" / "data" / "captions" / "stanford40_location.jsonl"
ROWS = 5000  # two shards of ~2,500: each commits one full part (2,048 rows) and a partial one


@pytest.fixture(scope="module")
def ray_local():
    try:
        import ray
        import pyarrow  # noqa: F401
    except ImportError as e:
        need(False, f"Ray and pyarrow ({e}); pip install 'clusterby[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def captions(tmp_path_factory):
    need(STANFORD.exists(), f"{STANFORD} (../shared/data beside the repository)")
    path = tmp_path_factory.mktemp("captions") / "stanford5000.jsonl"
    with open(STANFORD) as src, open(path, "w") as out:
        for i, line in enumerate(src):
            if i == ROWS:
                break
            out.write(line)
    return path


@pytest.fixture(scope="module")
def one_run(captions, tmp_path_factory):
    return clusterby.Index.build(captions, tmp_path_factory.mktemp("one") / "index")


def contents(index_dir):
    """id -> (caption, label, embedding bytes), read from the parts with pyarrow."""
    import pyarrow.parquet as pq

    m = json.loads((pathlib.Path(index_dir) / "manifest.json").read_text())
    rows = {}
    for p in m["parts"]:
        for r in pq.read_table(pathlib.Path(index_dir) / p["file"]).to_pylist():
            assert r["id"] not in rows, f"{r['id']} twice"
            rows[r["id"]] = (r["caption"], r["label"], np.asarray(r["embedding"], np.float32).tobytes())
    return rows


def kill_after_first_part(captions, shard_dir, shard):
    """Indexes one shard in a child process and kills it (SIGKILL) once a part is committed."""
    code = ("import sys, clusterby._clusterby as c; from clusterby._runtime import ort_library; "
            "c.build(sys.argv[1], sys.argv[2], 'all-MiniLM-L6-v2', ort_library(), 1, sys.argv[3])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(captions), str(shard_dir), shard])
    manifest = pathlib.Path(shard_dir) / "manifest.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if manifest.exists() and json.loads(manifest.read_text())["parts"]:
            break
        assert proc.poll() is None, "the shard finished or failed before its first part"
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive, json.loads(manifest.read_text())["rows"]


@pytest.fixture(scope="module")
def sharded(ray_local, captions, tmp_path_factory):
    from clusterby import ray as cray

    out = tmp_path_factory.mktemp("sharded") / "index"
    dirs = cray.shard_dirs(out, 2)
    alive, committed = kill_after_first_part(captions, dirs[1], "1/2")
    report = cray.index(captions, out, 2)
    return out, alive, committed, report


def test_sharded_index_and_merge_hold_exactly_the_rows_of_one_run(sharded, one_run):
    out, _, _, report = sharded
    assert report["shards"] == 2
    mine, theirs = contents(out), contents(one_run.path)
    assert len(mine) == len(theirs) == ROWS
    assert mine.keys() == theirs.keys()
    different = [i for i in theirs if mine[i] != theirs[i]]
    assert not different, f"{len(different)} rows differ, e.g. {different[:3]}"
    # The merged parts are the shards' own files (hard links on one file system).
    m = json.loads((out / "manifest.json").read_text())
    assert all(os.stat(out / p["file"]).st_nlink == 2 for p in m["parts"])


def test_a_shard_killed_midway_and_rerun_loses_nothing(sharded):
    out, alive, committed, _ = sharded
    assert alive, "the shard was not killed midway"
    assert 0 < committed < ROWS // 2
    shard = json.loads((pathlib.Path(str(out) + ".shards") / "shard-0001-of-0002" / "manifest.json").read_text())
    # The killed run's committed part stayed; the rerun added the rest, nothing twice.
    assert shard["parts"][0]["rows"] == committed
    assert len(contents(out)) == ROWS


@pytest.mark.parametrize("k", [5, 20])  # K = 5 fits a sample of 3,000 rows; K = 20 all 5,000
def test_the_distributed_assign_equals_the_single_machine_query(sharded, k, tmp_path):
    from clusterby import ray as cray

    out = sharded[0]
    result = cray.assign(out, k, tmp_path / "result", seed=7)
    assert result["fit_rows"] == min(max(300 * k, 3000), ROWS)
    got = cray.read_assignments(tmp_path / "result")
    want = clusterby.Index.open(out).cluster(by="action", k=k, conditioning="none", seed=7).assignments
    assert got["id"].tolist() == want["id"].tolist()
    assert (got["cluster"].to_numpy() == want["cluster"].to_numpy()).all()
    assert result["sizes"] == sorted(np.bincount(want["cluster"]).tolist(), reverse=True)


@pytest.mark.parametrize("k", [5, 20])
def test_the_conditioned_distributed_assign_equals_the_default_query(sharded, k, tmp_path):
    """The default query (values conditioning on "action"): the mean, the caption weight and the
    fit sample made part by part, each part conditioned in its own task."""
    from clusterby import ray as cray

    out = sharded[0]
    # K = 20 with two parts per task: a task conditions consecutive parts from one share of
    # occurrences.
    result = cray.assign(out, k, tmp_path / "result", by="action", seed=7, parts_per_task=1 if k == 5 else 2)
    want = clusterby.Index.open(out).cluster(by="action", k=k, seed=7)
    conditioning = want.raw["diagnostics"]["conditioning"]
    assert result["conditioning"] == "values"
    assert result["criterion_values"] == conditioning["criterion_values"]
    assert abs(result["caption_weight"] - conditioning["caption_weight"]) < 1e-6
    got = cray.read_assignments(tmp_path / "result")
    assert got["id"].tolist() == want.assignments["id"].tolist()
    differ = int((got["cluster"].to_numpy() != want.assignments["cluster"].to_numpy()).sum())
    assert differ == 0, f"{differ} of {ROWS} rows in another cluster"
    assert result["sizes"] == sorted(np.bincount(want.assignments["cluster"]).tolist(), reverse=True)


def test_an_image_folder_sharded_and_merged_holds_the_images_of_one_run(ray_local, tmp_path):
    """`index` on a folder: shards by image path (the generated CLIP-shaped model), merged into
    an image index with the rows of one run."""
    import shutil

    from clusterby import ray as cray

    cifar = ROOT.parent / "shared" / "data" / "images" / "cifar10-test" / "images"
    need(cifar.is_dir(), f"{cifar} (../shared/data beside the repository)")
    clip = str(ROOT / "tests" / "data" / "tiny-clip")
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted(cifar.glob("*.png"))[:30]:
        shutil.copy(p, folder / p.name)
    report = cray.index(folder, tmp_path / "sharded", 2, clip=clip)
    assert report["shards"] == 2
    one = clusterby.Index.build_images(folder, tmp_path / "one", clip=clip)
    mine, theirs = contents(tmp_path / "sharded"), contents(one.path)
    assert mine.keys() == theirs.keys() and len(mine) == 30
    for i in theirs:
        assert mine[i][1] == theirs[i][1], i
        a, b = (np.frombuffer(x[2], np.float32) for x in (mine[i], theirs[i]))
        assert np.allclose(a, b, atol=1e-5), i
    assert len(clusterby.ImageIndex.open(tmp_path / "sharded")) == 30


def test_merge_refuses_overlapping_indexes(one_run, sharded, tmp_path):
    with pytest.raises(clusterby.ClusterbyError, match="is in both"):
        clusterby._clusterby.merge([str(one_run.path), str(sharded[0])], str(tmp_path / "m"), None, None)
