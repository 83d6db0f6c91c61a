"""The spec keys of the better-labels routes: audit_frac (the ranked audit's budget), vote_k
(labels per item of the vote) and damage_test (test labels damaged as the training labels)."""

from __future__ import annotations

import pytest
import yaml

from datavsmath.sweeps.cost import estimate_seconds
from datavsmath.sweeps.extend import Finished, plan_extension, spec_settings
from datavsmath.sweeps.spec import SpecError, dump_spec
from datavsmath.sweeps.validation import parse_spec

GOOD = {"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.2], "damage_mode": ["random"],
        "repair": ["none", "audit", "vote"]}


@pytest.mark.parametrize(("extra", "match"), [
    ({"audit_frac": 1.3}, r"audit_frac must be in \(0, 1\], got 1.3"),
    ({"audit_frac": 0}, r"audit_frac must be in \(0, 1\], got 0"),
    ({"audit_frac": "10%"}, r"audit_frac must be a number in \(0, 1\], got '10%'"),
    ({"vote_k": 1}, r"vote_k must be in \[2, 9\], got 1"),
    ({"vote_k": 3.0}, r"vote_k must be an integer in \[2, 9\], got 3.0"),
    ({"damage_test": "yes"}, r"damage_test must be true or false, got 'yes'"),
    ({"repair": ["none", "vote"], "audit_frac": 0.2},
     r"audit_frac is given but no grid has repair audit; add audit to a repair axis or remove it"),
    ({"repair": ["audit"], "vote_k": 5}, r"vote_k is given but no grid has repair vote"),
    ({"repair": ["check"]}, r"repair must be one of \['none', 'prune', 'relabel', 'audit', 'vote'\], got 'check'"),
])
def test_bad_label_budgets_are_refused_naming_the_key(extra, match):
    with pytest.raises(SpecError, match=match):
        parse_spec({**GOOD, **extra})


def test_label_budgets_round_trip_and_reach_the_trials():
    spec = parse_spec({**GOOD, "audit_frac": 0.25, "vote_k": 5, "damage_test": True})
    again = parse_spec(yaml.safe_load(dump_spec(spec)), source="again")
    assert (again.audit_frac, again.vote_k, again.damage_test) == (0.25, 5, True)
    assert spec.repair_settings == {"model": "rf", "folds": 5, "audit_frac": 0.25, "vote_k": 5}
    default = parse_spec(GOOD)
    assert (default.audit_frac, default.vote_k, default.damage_test) == (0.1, 3, False)
    assert not {"audit_frac", "vote_k", "damage_test"} & set(yaml.safe_load(dump_spec(default)))


@pytest.mark.parametrize(("repair", "cross_validates"), [("none", False), ("prune", True), ("audit", True),
                                                         ("vote", False)])
def test_only_the_repairs_that_cross_validate_pay_for_it(repair, cross_validates):
    trial = {"model": "rf", "sample_frac": 0.1, "repair": repair}
    extra = estimate_seconds(trial, n_train=60000) - estimate_seconds({**trial, "repair": "none"}, n_train=60000)
    assert (extra > 0) == cross_validates


@pytest.mark.parametrize(("key", "value", "repair"), [("audit_frac", 0.3, "audit"), ("vote_k", 5, "vote")])
def test_a_changed_budget_changes_only_the_cells_that_spend_it(key, value, repair):
    before = spec_settings(parse_spec(GOOD))
    now = {**before, key: value}
    cells = [{"model": "rf", "sample_frac": 0.1, "damage_frac": 0.2, "damage_mode": "random", "repair": r, "seed": 0}
             for r in ("none", "audit", "vote")]
    done = [Finished(config={**c, "overrides": {}, "version": "1"}, settings=before) for c in cells]
    plan = plan_extension(cells, overrides={}, version="1", settings=now, finished=done)
    assert [c["repair"] for c, _ in plan.changed] == [repair]
    assert plan.changed[0][1] == f"{key} {before[key]} -> {value}"
