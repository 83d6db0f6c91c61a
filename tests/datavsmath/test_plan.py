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
    assert plan.text == dvm.sweep(spec="smoke", dry_run=True)
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
