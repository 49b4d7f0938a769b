import json

import numpy as np
import pandas as pd
import pytest

import clusterby
from conftest import run_cli


def test_a_query_gives_dataframes_in_index_order(ppmi7):
    r = ppmi7.cluster(by="musical instrument", k=7)
    a = r.assignments
    assert list(a.columns) == ["id", "cluster", "name", "caption", "label"]
    assert len(a) == len(ppmi7) == 700
    assert a["id"].tolist() == ppmi7.frame()["id"].tolist()
    assert a["label"].notna().all()
    c = r.clusters
    assert list(c.columns) == ["cluster", "name", "size", "keywords", "examples"]
    assert c["size"].sum() == 700 and len(c) == r.k == 7
    # Every row's name is its cluster's name.
    names = dict(zip(c["cluster"], c["name"]))
    assert (a["name"] == a["cluster"].map(names)).all()


def test_the_conditioning_report_is_typed(ppmi7):
    c = ppmi7.cluster(by="musical instrument", k=7).conditioning
    assert isinstance(c, clusterby.Conditioning)
    assert "violin" in c.criterion_values and c.vocabulary_size > len(c.criterion_values)
    assert 0.0 < c.caption_weight < 1.0
    # Captions written for the instrument name one.
    assert c.kinds_coverage > 0.9
    assert ppmi7.cluster(by="musical instrument", k=7, conditioning="none").conditioning is None


def test_the_same_accuracy_as_the_cli(ppmi7, cli, tmp_path):
    r = ppmi7.cluster(by="musical instrument", k=7, seed=42)
    out = tmp_path / "cli.json"
    run_cli(cli, "cluster", ppmi7.path, "--by", "musical instrument", "-k", "7", "--json", out)
    cli_result = json.loads(out.read_text())
    assert [a["cluster"] for a in cli_result["assignments"]] == r.labels.tolist()
    scores = json.loads(run_cli(cli, "eval", out, "--labels", ppmi7.path, "--json", "-"))
    mine = r.eval()
    assert mine.acc == pytest.approx(scores["acc"]) and mine.nmi == pytest.approx(scores["nmi"])
    assert mine.acc > 0.9


def test_features_are_the_conditioned_rows_read_in_place(ppmi7):
    r = ppmi7.cluster(by="musical instrument", k=7)
    f = r.features
    assert f.dtype == np.float32 and f.shape[0] == 700
    assert not f.flags["OWNDATA"], "the array should view clusterby's buffer, not a copy"
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-4)
    plain = ppmi7.features("musical instrument", 7, conditioning="none")
    assert plain.shape[1] < f.shape[1], "values conditioning appends the criterion's values"
    # Recomputing gives the same matrix.
    assert np.array_equal(f, ppmi7.features("musical instrument", 7))


def test_density_settings_and_noise(ppmi7):
    kept = ppmi7.cluster(by="musical instrument", k=7, method="hdbscan", noise="keep", min_cluster_size=20)
    assigned = ppmi7.cluster(by="musical instrument", k=7, method="hdbscan", min_cluster_size=20)
    assert (kept.labels < 0).sum() == assigned.raw["diagnostics"]["noise_reassigned"] > 0
    assert (assigned.labels >= 0).all()
    assert assigned.raw["diagnostics"]["method_settings"]["min_cluster_size"] == 20
    # Every setting as it ran, typed: the given smallest cluster, min_samples by the default rule.
    d = assigned.density
    assert isinstance(d, clusterby.DensitySettings) and d.eps is None and d.dimensions == 10
    assert d.min_cluster_size == clusterby.Setting(20, "given")
    assert d.min_samples == clusterby.Setting(20, "default")
    radius = ppmi7.cluster(by="musical instrument", k=7, method="dbscan").density.eps
    assert radius.source == "chosen" and radius.value > 0
    assert ppmi7.cluster(by="musical instrument", k=7).density is None
    # Kept noise is cluster -1, with a summary row of its own.
    assert -1 in set(kept.clusters["cluster"]) and -1 not in set(assigned.clusters["cluster"])


def test_errors_are_python_exceptions_with_the_cli_messages(ppmi7, tmp_path):
    with pytest.raises(clusterby.ClusterbyError, match="criterion is empty"):
        ppmi7.cluster(by="  ")
    with pytest.raises(ValueError, match='method: unknown value "nope"'):
        ppmi7.cluster(by="mood", method="nope")
    with pytest.raises(clusterby.ClusterbyError, match="k = 701 exceeds the number of rows"):
        ppmi7.cluster(by="mood", k=701)
    with pytest.raises(clusterby.ClusterbyError, match="manifest.json"):
        clusterby.Index.open(tmp_path / "nothing-here")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(clusterby.ClusterbyError, match="bad.jsonl"):
        clusterby.Index.build(bad, tmp_path / "bad-index")


def test_eval_takes_labels_from_a_series(ppmi7):
    r = ppmi7.cluster(by="musical instrument", k=7)
    frame = ppmi7.frame()
    own = r.eval()
    # Labels that merge two classes into one cannot score higher than the real ones.
    merged = frame.set_index("id")["label"].replace({"Cello": "Violin"})
    assert r.eval(merged).nmi != own.nmi
    assert r.eval(frame.set_index("id")["label"]) == own


def test_to_json_round_trips(ppmi7, tmp_path):
    r = ppmi7.cluster(by="musical instrument", k=7)
    path = tmp_path / "r.json"
    text = r.to_json(str(path))
    assert json.loads(path.read_text()) == json.loads(text) == r.raw
    assert r.raw["schema_version"] >= 2


def test_plots_draw_the_result(ppmi7):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    r = ppmi7.cluster(by="musical instrument", k=7)
    ax = r.plot("map")
    assert len(ax.collections) == 7 and ax.texts
    ax = r.plot("sizes")
    assert len(ax.patches) == 7
    ax = r.plot("confusion")
    table = ax.images[0].get_array()
    assert table.sum() == 700
    # Hungarian order puts the matched pairs on the diagonal.
    assert np.trace(table) / 700 == pytest.approx(r.eval().acc)
    with pytest.raises(ValueError, match="unknown value"):
        r.plot("pie")


def test_one_wheel_for_every_python():
    import clusterby._clusterby as native

    assert native.__file__.endswith((".abi3.so", ".pyd"))
    assert clusterby.__version__
