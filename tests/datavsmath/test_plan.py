"""`datavsmath.plan`: what a sweep would run, as an object (its text is the CLI's --dry-run),
and `Results` built by its constructor."""
from __future__ import annotations

import inspect

import pandas as pd
import pytest

import datavsmath as dvm
from datavsmath.cli import main


def test_plan_is_the_dry_run_with_its_cells_and_cost(capsys, no_ray_before_or_after):
    assert main(["sweep", "smoke", "--dry-run"]) == 0
    printed = capsys.readouterr().out.rstrip("\n")
    plan = dvm.plan(spec="smoke")
    assert isinstance(plan, dvm.Plan) and plan.text == printed == str(plan)
    n = int(plan.text.splitlines()[0].split(": ")[-1].split()[0])
    assert len(plan.cells) == n and {"model", "sample_frac", "damage_frac", "damage_mode", "seed"} <= set(plan.cells[0])
    assert plan.seconds > 0 and set(plan.resources) == {c["model"] for c in plan.cells}


def test_plan_takes_sweeps_keywords_only(no_ray_before_or_after):
    with pytest.raises(TypeError):
        dvm.plan(spec="smoke", sample_fracs=[0.5])
    with pytest.raises(dvm.SpecError, match="sample_frac"):
        dvm.plan(spec="smoke", sample_frac=[2.0])


def test_every_public_function_has_numpydoc_sections():
    for name in ("sweep", "plan", "load", "net", "shutdown"):
        doc = inspect.getdoc(getattr(dvm, name)) or ""
        assert "Examples\n--------" in doc, name
        assert "Returns\n-------" in doc, name
    for name in ("sweep", "plan", "load"):
        doc = inspect.getdoc(getattr(dvm, name)) or ""
        assert "Parameters\n----------" in doc and "Raises\n------" in doc, name
    for name in ("table", "decision", "answer", "label_quality", "figures", "report"):
        doc = inspect.getdoc(getattr(dvm.Results, name)) or ""
        assert "Returns\n-------" in doc and "Examples\n--------" in doc, name
    assert "Parameters\n----------" in (inspect.getdoc(dvm.Results) or "")


def test_results_take_what_is_at_hand(tmp_path):
    frame = pd.DataFrame({"status": ["TERMINATED"], "model": ["rf"]})
    results = dvm.Results(tmp_path / "nowhere", frame=frame)
    assert results.frame is frame and results.errors.empty


def test_sweep_always_runs_and_names_plan_for_a_dry_run(tmp_path, no_ray_before_or_after):
    """sweep() returned a str on dry_run=True (Results | str): it returns Results only."""
    assert inspect.signature(dvm.sweep).return_annotation in ("Results", dvm.Results)
    with pytest.raises(dvm.SpecError, match=r"^dry_run=True: sweep runs; datavsmath.plan\(...\) takes the same "
                                              r"arguments and returns what would run \(its .text is the dry run\)$"):
        dvm.sweep(spec="smoke", storage=str(tmp_path), dry_run=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(dvm.SpecError, match=r"^plan takes no dry_run: it is the dry run$"):
        dvm.plan(spec="smoke", dry_run=True)
