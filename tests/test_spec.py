"""Sweep specs: the shipped ones expand as the talk ran them; bad ones fail with clear messages."""

from __future__ import annotations

import pytest
import yaml

from sweeps.spec import SpecError, count_listed, dump_spec, expand_trials, load_spec, parse_spec, shipped_specs

SEED_FRACS = sorted({*(i / 100 for i in range(1, 10)), *(i / 10 for i in range(1, 10)),
                     *(i / 100 for i in range(91, 101))})
SEED_DAMAGE = sorted({*(i / 100 for i in range(0, 10)), *(i / 10 for i in range(1, 10)),
                      *(i / 100 for i in range(91, 100))})
GOOD = {"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.0], "damage_mode": ["none"]}


@pytest.mark.parametrize("name,count", [("size", 112), ("random_damage", 112), ("constant_damage", 112),
                                        ("cnn_size_x_damage", 168)])
def test_shipped_specs_have_the_talks_trial_counts(name, count):
    assert len(expand_trials(load_spec(name))) == count


def test_seed_all_is_the_union_with_overlap_merged():
    spec = load_spec("seed_all")
    assert count_listed(spec) == 504
    trials = expand_trials(spec)
    assert len(trials) == 498  # cnn at full data, constant damage 0..0.5, is in two sweeps
    keys = {tuple(t.values()) for t in trials}
    assert len(keys) == len(trials)


def test_grids_match_the_talks_r_vectors():
    assert list(load_spec("size").grids[0].sample_frac) == pytest.approx(SEED_FRACS)
    assert list(load_spec("random_damage").grids[0].damage_frac) == pytest.approx(SEED_DAMAGE)
    assert list(load_spec("cnn_size_x_damage").grids[0].damage_frac) == pytest.approx([0, .1, .2, .3, .4, .5])


@pytest.mark.parametrize("name", ["smoke", "laptop", "size", "seed_all"])
def test_every_shipped_spec_round_trips_through_yaml(name):
    spec = load_spec(name)
    again = parse_spec(yaml.safe_load(dump_spec(spec)), source="again")
    assert expand_trials(again) == expand_trials(spec)
    assert again.overrides == spec.overrides


def test_shipped_list():
    assert {"size", "random_damage", "constant_damage", "cnn_size_x_damage", "seed_all", "laptop", "smoke"} <= set(shipped_specs())


def test_seeds_replicate_every_combination():
    spec = parse_spec({**GOOD, "sample_frac": [0.1, 0.2], "seeds": [0, 1, 2]})
    assert len(expand_trials(spec)) == 6


BAD_SPECS = [
    ({**GOOD, "model": ["svm"]}, r"model must be one of \['rf', 'xgb', 'dnn', 'cnn'\], got 'svm'"),
    ({**GOOD, "damage_mode": ["evil"]}, r"damage_mode must be one of \['none', 'random', 'constant'\], got 'evil'"),
    ({**GOOD, "sample_frac": [0.0]}, r"sample_frac must be in \(0, 1\], got 0$"),
    ({**GOOD, "sample_frac": [1.5]}, r"sample_frac must be in \(0, 1\], got 1.5"),
    ({**GOOD, "damage_frac": [1.3], "damage_mode": ["random"]}, r"damage_frac must be in \[0, 1\], got 1.3"),
    ({**GOOD, "damage_frac": [0.1]}, r"damage_mode 'none' needs damage_frac 0, got damage_frac 0.1"),
    ({**GOOD, "model": []}, r"model must not be empty, got \[\]"),
    ({**GOOD, "sample_frac": [0.1, 0.1]}, r"sample_frac must have distinct values, got duplicates 0.1"),
    ({**GOOD, "samples": [0.1]}, r"unknown key 'samples'; allowed: model, sample_frac"),
    ({**GOOD, "sample_frac": "0.1"}, r"sample_frac must be a list, got str '0.1'"),
    ({**GOOD, "sample_frac": ["a"]}, r"sample_frac must be a number in \(0, 1\], got 'a'"),
    ({**GOOD, "seeds": [-1]}, r"seeds must be in \[0, 4294967295\], got -1"),
    ({**GOOD, "seeds": [1.5]}, r"seeds must be an integer in \[0, 4294967295\], got 1.5"),
    ({**GOOD, "overrides": {"cnn": {"epochs": 2}}}, r"overrides for model 'cnn': model must be one in the sweep \['rf'\], got 'cnn'"),
    ({**GOOD, "overrides": {"rf": {"trees": 2}}}, r"overrides.rf: .*unknown key 'trees'; allowed: .*n_estimators"),
    ({**GOOD, "resources": {"rf": {"cpu": 0}}}, r"resources.rf.cpu must be in \(0, inf\), got 0"),
    ({**GOOD, "resources": {"rf": {"tpu": 1}}}, r"resources.rf: unknown key 'tpu'; allowed: cpu, gpu"),
    ({**GOOD, "gpu_share": 2}, r"gpu_share must be in \(0, 1\], got 2"),
    ({**GOOD, "checkpoint_period_s": -1}, r"checkpoint_period_s must be in \[0, inf\), got -1"),
    ({**GOOD, "checkpoint_period_s": "30s"}, r"checkpoint_period_s must be a number in \[0, inf\), got '30s'"),
    ({**GOOD, "checkpoint_period_s": True}, r"checkpoint_period_s must be a number in \[0, inf\), got True"),
    ({"name": "x"}, r"has no trials"),
    ({"grids": [{**GOOD, "seed": [1]}]}, r"grids\[0\]: unknown key 'seed'"),
    ({"include": ["nope"]}, r"spec must be a YAML file or one of .*got 'nope'"),
]


@pytest.mark.parametrize("data,match", BAD_SPECS)
def test_bad_specs_are_rejected_with_field_and_value(data, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(data)


def test_malformed_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: [rf, xgb\nsample_frac: [0.1]\n")
    with pytest.raises(SpecError, match=r"bad.yaml: malformed YAML"):
        load_spec(path)


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- rf\n- xgb\n")
    with pytest.raises(SpecError, match=r"top level must be a mapping of keys, got list"):
        load_spec(path)


def test_yaml_tags_are_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match=r"malformed YAML"):
        load_spec(path)


def test_unknown_spec_name():
    with pytest.raises(SpecError, match=r"spec must be a YAML file or one of \[.*'size'.*\], got 'sizes'"):
        load_spec("sizes")
