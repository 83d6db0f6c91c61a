"""The spec's `search:` key: its normal form, its defaults and its refusals, in the spec and the API."""

from __future__ import annotations

import pytest

import datavsmath as dvm
from datavsmath.sweeps.safe_yaml import parse_yaml_text
from datavsmath.sweeps.search_keys import DEFAULT_BUDGET, DEFAULT_TOLERANCE, check_search
from datavsmath.sweeps.spec import SpecError, dump_spec
from datavsmath.sweeps.validation import parse_spec

BASE = {"model": ["rf"], "sample_frac": [0.01, 0.02], "damage_frac": [0.0], "damage_mode": ["none"]}


def test_grid_is_the_default() -> None:
    assert parse_spec(dict(BASE)).search == {"kind": "grid"}


def test_adaptive_fills_defaults_and_round_trips() -> None:
    spec = parse_spec({**BASE, "search": {"kind": "adaptive", "target": {"acc": 0.8}}})
    assert spec.search == {"kind": "adaptive", "target": {"acc": 0.8}, "tolerance": DEFAULT_TOLERANCE,
                           "budget": DEFAULT_BUDGET}
    assert parse_spec(parse_yaml_text(dump_spec(spec), source="<t>")).search == spec.search


@pytest.mark.parametrize(("raw", "message"), [
    ({"kind": "adaptive", "target": {"acc": 0.8}, "tolerance": 3}, r"search.tolerance must be in \(0, 1\], got 3"),
    ({"kind": "adaptive", "target": {"acc": 0.8}, "budget": 0}, r"search.budget must be in \[1, inf\), got 0"),
    ({"kind": "adaptive", "target": {"acc": 1.0}}, r"search.target.acc must be in \(0, 1\), got 1"),
    ({"kind": "adaptive", "target": {"f1": 0.5}}, r"search.target must be one of"),
    ({"kind": "adaptive"}, r"search.target is required for kind: adaptive"),
    ({"kind": "grid", "budget": 5}, r"search.budget applies only to kind: adaptive"),
    ({"kind": "random"}, r"search.kind must be one of \['grid', 'adaptive'\], got 'random'"),
    ({"kind": "adaptive", "target": {"acc": 0.8}, "patience": 2}, r"search: unknown key 'patience'"),
])
def test_refusals_name_key_range_and_value(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_search(raw)
    with pytest.raises(SpecError, match=message):
        parse_spec({**BASE, "search": raw})


def test_api_takes_search_and_curve_keywords(tmp_path) -> None:
    with pytest.raises(SpecError, match=r"search.tolerance must be in \(0, 1\], got 3"):
        dvm.plan(model="rf", sample_frac=0.01, search={"kind": "adaptive", "target": {"acc": 0.8}, "tolerance": 3},
                 storage=str(tmp_path))
    with pytest.raises(SpecError, match=r"curve must be one of"):
        dvm.plan(model="rf", sample_frac=0.01, curve="cubic", storage=str(tmp_path))
