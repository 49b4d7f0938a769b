"""notebooks/tour.ipynb runs top to bottom (a copy is executed; the committed file is not
rewritten). Regenerate it with `.venv/bin/python notebooks/make_tour.py`."""
import time

import nbformat
from nbclient import NotebookClient

from conftest import PPMI7, ROOT, need


def test_the_tour_runs_top_to_bottom():
    need(PPMI7.exists(), f"{PPMI7} (../shared/data beside the repository)")
    nb = nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4)
    committed = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs for c in committed), "the committed notebook carries its outputs"
    t = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    seconds = time.perf_counter() - t
    assert seconds < 120, f"the tour took {seconds:.0f} s"
    text = "\n".join(
        o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
        for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "Scores(acc=" in text and "no copy" in text
