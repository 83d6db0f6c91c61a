"""The scalar spec keys are declared once (validation.SCALAR_KEYS): a spec file's YAML and
datavsmath.sweep's keywords are checked by the same table, with the same messages."""
from __future__ import annotations

import inspect

import pytest

import datavsmath as dvm
from datavsmath.sweeps.spec import SpecError, spec_to_dict
from datavsmath.sweeps.validation import SCALAR_KEYS, TOP_LEVEL_KEYS, load_spec, parse_spec

BAD = [("max_failures", -1, r"^max_failures must be in \[0, inf\), got -1$"),
       ("gpu_share", 1.5, r"^gpu_share must be in \(0, 1\], got 1\.5$"),
       ("checkpoint_period_s", "often", r"^checkpoint_period_s must be a number in \[0, inf\), got 'often'$"),
       ("damage_test", "yes", r"^damage_test must be true or false, got 'yes'$")]


def test_every_scalar_key_is_a_spec_key_and_a_keyword():
    assert set(SCALAR_KEYS) <= set(TOP_LEVEL_KEYS)
    assert set(SCALAR_KEYS) <= set(inspect.signature(dvm.sweep).parameters)


@pytest.mark.parametrize("key, value, match", BAD, ids=[b[0] for b in BAD])
def test_yaml_and_keywords_are_checked_alike(key, value, match, no_ray_before_or_after):
    smoke = spec_to_dict(load_spec("smoke"))
    with pytest.raises(SpecError, match=match):
        parse_spec({**smoke, key: value})
    with pytest.raises(dvm.SpecError, match=r"^spec \S+smoke\.yaml: " + match[1:]):  # naming the spec it overrides
        dvm.plan(spec="smoke", **{key: value})


def test_a_key_given_as_null_is_unset_only_where_its_default_is():
    smoke = spec_to_dict(load_spec("smoke"))
    assert parse_spec({**smoke, "max_failures": None}).max_failures is None
    with pytest.raises(SpecError, match=r"^checkpoint_period_s must be a number"):
        parse_spec({**smoke, "checkpoint_period_s": None})
