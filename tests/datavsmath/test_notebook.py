"""examples/quickstart.ipynb runs in a real Jupyter kernel and shows what it says it shows."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
# The executed copy the documentation site shows (mkdocs.yml, docs/hooks.py): this run makes it,
# so that `make test`'s documentation build does not execute the notebook a second time.
EXECUTED = ROOT / "build" / "docs" / "quickstart.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"
TIMEOUT_S = 300


def _texts(cell) -> str:
    return "\n".join(str(o.get("data", {}).get(kind, "")) + o.get("text", "")
                     for o in cell.outputs for kind in ("text/plain", "text/html"))


def test_quickstart_notebook_runs_in_a_kernel(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    sweep = next(c for c in code if "dvm.sweep(" in c.source)
    assert "32 trials, 32 finished, 0 errored" in _texts(sweep)
    assert "datavsmath quickstart: 32 of 32 trials done" in _texts(sweep)  # the one updating display
    decision = next(c for c in code if "res.decision(" in c.source)
    assert "buy labels" in _texts(decision) and "cheapest" in _texts(decision)
    figures = [c for c in code if c.source.startswith("figures[")]
    assert len(figures) == 2
    for cell in figures:
        shown = [o["data"][PLOTLY] for o in cell.outputs if PLOTLY in o.get("data", {})]
        assert shown and shown[0]["data"], cell.source
    assert (tmp_path / "results" / "quickstart" / "results.parquet").is_file()
    EXECUTED.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED)


def test_the_progress_display_restored_on_resume_counts_from_the_resume():
    """tuner.pkl stored the display's clock as 0.0, so a resumed display counted the seconds
    since the machine's boot."""
    import pickle

    from datavsmath._notebook import NotebookProgress

    restored = pickle.loads(pickle.dumps(NotebookProgress("nb")))
    assert restored.text(24, 40) == "datavsmath nb: 24 of 40 trials done, 0 s"


def test_a_sweep_keeps_what_its_cell_printed_before_it(tmp_path):
    """Tune's own notebook reporter cleared the cell's output when it was made, even at
    verbosity 0: a print before `dvm.sweep` in the same cell was gone."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import datavsmath as dvm\n"
        "from sklearn.datasets import load_digits\n"
        "frame = load_digits(as_frame=True).frame\n"
        'print("before the sweep")\n'
        'res = dvm.sweep(frame, label="target", models=["rf"], sample_frac=[0.2, 0.5], seeds=1, '
        f'storage={str(tmp_path)!r}, name="kept", live=False, report=False)\n'
        'print("after the sweep")')]
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = _texts(nb.cells[0])
    assert "before the sweep" in texts and "after the sweep" in texts
    assert texts.index("before the sweep") < texts.index("datavsmath kept: 2 of 2 trials done")
    assert not [o for o in nb.cells[0].outputs if o.get("data", {}).get("text/html") == ""]  # Tune's empty display
