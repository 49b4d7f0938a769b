"""Fixtures of the Python package's tests: a PPMI-7 caption index built once per session.

They need the text model (`bash scripts/setup.sh`) and ../shared/data. Where either is missing
the tests skip and say why, unless CLUSTERBY_REQUIRE_MODELS is set: then they fail."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PPMI7 = ROOT.parent / "shared" / "data" / "captions" / "ppmi7.jsonl"


def need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CLUSTERBY_REQUIRE_MODELS"):
        pytest.fail(f"required but missing: {why}")
    pytest.skip(f"skipped: {why}")


@pytest.fixture(scope="session")
def ppmi7(tmp_path_factory):
    import clusterby

    need(PPMI7.exists(), f"{PPMI7} (../shared/data beside the repository)")
    out = tmp_path_factory.mktemp("ppmi7") / "index"
    try:
        return clusterby.Index.build(PPMI7, out)
    except clusterby.ClusterbyError as e:
        need(False, f"the text model or ONNX Runtime ({e}); run bash scripts/setup.sh")


@pytest.fixture(scope="session")
def cli():
    """The clusterby binary `cargo test` built (debug), else the release one."""
    for profile in ("debug", "release"):
        path = ROOT / "target" / profile / "clusterby"
        if path.exists():
            return path
    need(False, "a clusterby binary (cargo build)")


def run_cli(cli, *args):
    return subprocess.run([str(cli), *map(str, args)], check=True, capture_output=True, text=True).stdout
