"""Sweep specs: the shipped ones expand as the talk ran them; bad ones fail with clear messages."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from datavsmath.sweeps.dataset_fit import rows_problem
from datavsmath.sweeps.experiment_layout import TUNER_FILE, ExperimentFilesError, check_resumable, read_stored_spec
from datavsmath.sweeps.resources import check_resolution, parse_resources
from datavsmath.sweeps.safe_yaml import MAX_SPEC_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES, parse_yaml_text
from datavsmath.sweeps.spec import SpecError, count_listed, dump_spec, expand_trials
from datavsmath.sweeps.validation import (
    DEFAULT_MAX_TRIALS,
    check_trial,
    load_spec,
    parse_spec,
    shipped_specs,
)
from datavsmath.trainables.datasets.built_in import FASHION_MNIST
from datavsmath.trainables.models import MODEL_NAMES

RAY_EXPERIMENT = Path(__file__).parents[1] / "data" / "analysis" / "ray_experiment"

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
    ({**GOOD, "damage_mode": ["evil"]}, r"damage_mode must be one of \['none', 'random', 'constant', 'matrix', 'confusion'\], got 'evil'"),
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
    ({**GOOD, "report": {"model": "cnn"}}, r"report.model must be one of \['rf'\], got 'cnn'"),
    ({**GOOD, "report": {"thresholds": {"f1": 0.5}}}, r"report.thresholds must be one of \['acc', 'auc'\], got 'f1'"),
    ({**GOOD, "report": {"thresholds": {"acc": 1.0}}}, r"report.thresholds.acc must be in \(0, 1\), got 1"),
    ({**GOOD, "report": {"colour": "red"}},
     r"report: unknown key 'colour'; allowed: current, target, prices, model, thresholds, curve"),
    ({**GOOD, "report": {"curve": "spline"}}, r"report.curve must be one of \['auto', 'pow3', .*\], got 'spline'"),
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


# --------------------------------------------------------------- limits of a spec file

def _spec_file(tmp_path, text: str | bytes, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


AXES_TEXT = "sample_frac: [0.1]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"


def test_alias_expansion_is_counted_without_expanding(tmp_path):
    # 8 levels of 9 aliases: 9^8 = 43 million values in 400 bytes
    lines, previous = ["model:"], None
    for name in "abcdefgh":
        items = ", ".join(["rf"] * 9) if previous is None else ", ".join([f"*{previous}"] * 9)
        lines.append(f"  - &{name} [{items}]")
        previous = name
    started = time.perf_counter()
    with pytest.raises(SpecError, match=r"s.yaml: more than 100000 YAML nodes after expanding aliases"):
        load_spec(_spec_file(tmp_path, "\n".join(lines) + "\n" + AXES_TEXT))
    assert time.perf_counter() - started < 1.0


def test_aliases_within_the_limits_still_load(tmp_path):
    text = "model: &m [rf, xgb]\nsample_frac: [0.1]\ndamage_frac: &z [0.0]\ndamage_mode: [none]\n" \
           "grids:\n  - {model: *m, sample_frac: [0.2], damage_frac: *z, damage_mode: [none]}\n"
    assert len(expand_trials(load_spec(_spec_file(tmp_path, text)))) == 4


def test_node_limit_counts_plain_nodes_too(tmp_path):
    seeds = ", ".join(map(str, range(MAX_YAML_NODES)))
    with pytest.raises(SpecError, match=rf"more than {MAX_YAML_NODES} YAML nodes \(line 5\)"):
        load_spec(_spec_file(tmp_path, f"model: [rf]\n{AXES_TEXT}seeds: [{seeds}]\n"))


def test_nesting_is_limited_while_composing_and_through_aliases(tmp_path):
    with pytest.raises(SpecError, match=rf"nested deeper than {MAX_YAML_DEPTH} levels \(line 1\)"):
        load_spec(_spec_file(tmp_path, "model: " + "[" * 2000 + "]" * 2000 + "\n"))
    # a chain of anchors, each one level deep in the file, nests 60 levels once expanded
    chain = "a0: &a0 [rf]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 60))
    with pytest.raises(SpecError, match=rf"nested deeper than {MAX_YAML_DEPTH} levels after expanding aliases"):
        parse_yaml_text(chain, source="chain")


def test_recursive_alias_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"an alias at or below line 2 refers to a node that contains it"):
        parse_yaml_text("name: x\nmodel: &a [rf, [*a]]\n", source="cycle")


@pytest.mark.parametrize("text,match", [
    ("model: [rf]\nmodel: [xgb]\n", r"duplicate key 'model' at line 2 \(first at line 1\)"),
    ("overrides:\n  rf: {n_estimators: 3, n_estimators: 4}\n", r"duplicate key 'n_estimators' at line 2 \(first at line 2\)"),
    ("seeds: [1]\n\"seeds\": [2]\n", r"duplicate key 'seeds' at line 2"),
])
def test_duplicate_keys_are_refused_with_their_lines(text, match):
    with pytest.raises(SpecError, match=match):
        parse_yaml_text(text, source="dup")


def test_merge_keys_may_repeat_what_they_merge():
    data = parse_yaml_text("base: &b {cpu: 1, gpu: 0.5}\nresources:\n  cnn: {<<: *b, gpu: 0.25}\n", source="merge")
    assert data["resources"] == {"cnn": {"cpu": 1, "gpu": 0.25}}


def test_file_problems_are_one_line_naming_the_file(tmp_path):
    with pytest.raises(SpecError, match=r"s.yaml: not UTF-8 text \(byte 0xff at offset 10\)$"):
        load_spec(_spec_file(tmp_path, b"model: [rf\xff]\n"))
    with pytest.raises(SpecError, match=r"s.yaml: malformed YAML at line 2, column 12: expected ',' or '\]', "
                                         r"but got ':' \(while parsing a flow sequence, line 1\)$"):
        load_spec(_spec_file(tmp_path, "model: [rf\nsample_frac: [0.1]\n"))
    with pytest.raises(SpecError, match=r"malformed YAML at position 7: unacceptable character #x0000"):
        load_spec(_spec_file(tmp_path, "name: a\0b\n"))
    with pytest.raises(SpecError, match=r"a value cannot be read \(Exceeds the limit \(4300 digits\)"):
        load_spec(_spec_file(tmp_path, f"seeds: [{'9' * 5000}]\n"))
    with pytest.raises(SpecError, match=rf"s.yaml: larger than {MAX_SPEC_BYTES} bytes"):
        load_spec(_spec_file(tmp_path, b"#" * (MAX_SPEC_BYTES + 1)))
    with pytest.raises(SpecError, match=r"spec .* is a directory, not a YAML file"):
        load_spec(tmp_path)
    with pytest.raises(SpecError, match=r"without NUL bytes, got 'x\\x00.yaml'"):
        load_spec("x\0.yaml")


def test_value_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match=r"^spec .*s.yaml: seeds must be in \[0, 4294967295\], got 4294967296$"):
        load_spec(_spec_file(tmp_path, f"model: [rf]\n{AXES_TEXT}seeds: [{2**32}]\n"))


def test_echoed_values_are_cut():
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, "model": "x" * 10_000})
    assert len(str(err.value)) < 200
    with pytest.raises(SpecError, match=r"got duplicates 0, 1, 2, 3, 4 and 995 more$"):
        parse_spec({**GOOD, "seeds": list(range(1000)) * 2})


# --------------------------------------------------------------- trial count

def test_the_trial_count_is_capped_by_counting():
    wide = {"model": list(MODEL_NAMES), "sample_frac": [i / 1000 for i in range(1, 1001)],
            "damage_frac": [i / 1000 for i in range(1000)], "damage_mode": ["random", "constant"],
            "seeds": list(range(125))}
    started = time.perf_counter()
    with pytest.raises(SpecError, match=rf"1000000000 trials \(counted before merging duplicates\), more than "
                                        rf"--max-trials {DEFAULT_MAX_TRIALS}; .*pass --max-trials 1000000000"):
        parse_spec(wide)
    assert time.perf_counter() - started < 2.0


def test_max_trials_can_be_raised_lowered_or_lifted():
    spec = load_spec("smoke", max_trials=12)
    assert len(expand_trials(spec)) == 12
    with pytest.raises(SpecError, match=r"spec .*smoke.yaml: 12 trials .*more than --max-trials 11"):
        load_spec("smoke", max_trials=11)
    with pytest.raises(SpecError, match=r"--max-trials must be in \[1, inf\), got 0"):
        load_spec("smoke", max_trials=0)
    # the cap counts grid points before merging: seed_all lists 504 for its 498 trials
    with pytest.raises(SpecError, match=r"504 trials"):
        load_spec("seed_all", max_trials=500)
    many = {**GOOD, "sample_frac": [i / 100 for i in range(1, 101)], "seeds": list(range(2000))}
    assert count_listed(parse_spec(many, max_trials=None)) == 200_000


def test_the_duplicate_check_is_linear():
    seeds = list(range(10**5))
    started = time.perf_counter()
    assert len(parse_spec({**GOOD, "seeds": seeds}).seeds) == 10**5  # exactly the default cap
    with pytest.raises(SpecError, match=r"seeds must have distinct values, got duplicates 99999$"):
        parse_spec({**GOOD, "seeds": [*seeds, 99_999]})
    assert time.perf_counter() - started < 2.0


# --------------------------------------------------------------- rows, resources, recorded trials

@pytest.mark.parametrize("model,frac,overrides,match", [
    ("rf", 0.00001, {}, r"^sample_frac 1e-05 gives rf 0 of the 60000 training rows; rf needs at least 10 \(one per class\)$"),
    ("xgb", 9 / 60000, {}, r"gives xgb 9 of the 60000 training rows; xgb needs at least 10"),
    ("dnn", 1 / 60000, {}, r"gives dnn 1 of the 60000 training rows: 0 to fit and 1 to validate \(validation_split 0.2\)"),
    ("cnn", 1 / 60000, {"validation_split": 0.5}, r"0 to fit and 1 to validate \(validation_split 0.5\); cnn needs at least 1 of each"),
    ("cnn", 0.00001, {"validation_split": 0.0}, r"gives cnn 0 .*: 0 to fit and 0 to validate \(validation_split 0\); cnn needs at least 1 to fit"),
])
def test_too_few_rows_for_a_model_are_refused(model, frac, overrides, match):
    # the smallest sample_frac of the model is the one checked, wherever it is listed
    spec = {**GOOD, "model": [model], "sample_frac": [0.5, frac], "overrides": {model: overrides} if overrides else {}}
    with pytest.raises(SpecError, match=match):
        parse_spec(spec)


def test_rows_needed_at_the_edge():
    assert rows_problem("rf", 10 / 60000, params={}, info=FASHION_MNIST) is None
    assert rows_problem("dnn", 2 / 60000, params={"validation_split": 0.2}, info=FASHION_MNIST) is None  # 1 to fit, 1 to validate
    assert rows_problem("dnn", 1 / 60000, params={"validation_split": 0.0}, info=FASHION_MNIST) is None  # no split: 1 to fit
    assert "needs at least 1 to fit" in rows_problem("dnn", 0.00001, params={"validation_split": 0.0}, info=FASHION_MNIST)


@pytest.mark.parametrize("value,ok", [(0.25, True), (0.3, True), (1.0, True), (0.0001, True), (123.4567, True),
                                      (1e-9, False), (0.00015, False), (0.3333, True), (0.33333, False)])
def test_resource_amounts_are_at_rays_resolution(value, ok):
    if ok:
        assert check_resolution("cpu", value) == value
    else:
        with pytest.raises(SpecError, match=rf"cpu must be a multiple of 0.0001 \(Ray's resource unit\), got {value:g}"):
            check_resolution("cpu", value)


def test_gpu_requests_above_one_are_whole():
    assert parse_resources({"cnn": {"gpu": 2}}, ("cnn",)) == {"cnn": {"gpu": 2.0}}
    with pytest.raises(SpecError, match=r"resources.cnn.gpu must be a fraction <= 1 or a whole number, got 1.5"):
        parse_resources({"cnn": {"gpu": 1.5}}, ("cnn",))


def test_check_trial_reads_a_recorded_config_with_the_spec_rules():
    config = {"model": "cnn", "sample_frac": 0.01, "damage_frac": 0.0, "damage_mode": "none", "seed": 3, "trial": 0}
    # A config recorded before the repair axis existed has none: it reads as repair none.
    assert check_trial(config) == {**{k: config[k] for k in ("model", "sample_frac", "damage_frac", "damage_mode",
                                                              "seed")}, "repair": "none"}
    assert check_trial({**config, "repair": "prune"})["repair"] == "prune"
    with pytest.raises(SpecError, match=r"repair must be one of \['none', 'prune', 'relabel', 'audit', 'vote'\], got 'fix'"):
        check_trial({**config, "repair": "fix"})
    with pytest.raises(SpecError, match=r"seed must be in \[0, 4294967295\], got 9223372036854775808"):
        check_trial({**config, "seed": 2**63})
    with pytest.raises(SpecError, match=r"missing axis 'seed'"):
        check_trial({k: v for k, v in config.items() if k != "seed"})
    with pytest.raises(SpecError, match=r"sample_frac must be a number in \(0, 1\], got 'x'"):
        check_trial({**config, "sample_frac": "x"})


def test_stored_spec_errors_name_the_file(tmp_path):
    (tmp_path / "spec.yaml").write_text(dump_spec(load_spec("smoke")).replace("- 0\n", f"- {2**63}\n"))
    with pytest.raises(SpecError, match=rf"^spec {tmp_path}/spec.yaml: seeds must be in \[0, 4294967295\]"):
        read_stored_spec(str(tmp_path))


# --------------------------------------------------------------- an experiment that --resume continues

def _stored_experiment(tmp_path, *, tuner: bytes = b"\x80\x05N.") -> Path:
    exp = tmp_path / "exp"
    shutil.copytree(RAY_EXPERIMENT, exp)
    (exp / TUNER_FILE).write_bytes(tuner)
    return exp


def test_a_complete_experiment_is_resumable(tmp_path):
    exp = _stored_experiment(tmp_path)
    assert check_resumable(str(exp)).name == "ray_fixture"
    assert check_resumable(exp.as_uri()).seeds == (0, 1, 2, 3)


def test_an_empty_tuner_pkl_is_refused(tmp_path):
    exp = _stored_experiment(tmp_path, tuner=b"")
    with pytest.raises(ExperimentFilesError, match=rf"--resume: {exp}/tuner.pkl is empty \(0 bytes\): .*--overwrite"):
        check_resumable(str(exp))


def test_missing_files_are_named(tmp_path):
    exp = _stored_experiment(tmp_path)
    (exp / TUNER_FILE).unlink()
    with pytest.raises(ExperimentFilesError, match=r"no experiment to resume at .* \(no tuner.pkl\)"):
        check_resumable(str(exp))
    with pytest.raises(ExperimentFilesError, match=r"\(no spec.yaml or tuner.pkl\)"):
        check_resumable(str(tmp_path / "nothing"))


def test_a_truncated_experiment_state_is_refused(tmp_path):
    exp = _stored_experiment(tmp_path)
    state = next(exp.glob("experiment_state-*.json"))
    state.write_text(state.read_text()[:1000])
    with pytest.raises(ExperimentFilesError, match=rf"{state.name} is not valid JSON .*start again with --overwrite"):
        check_resumable(str(exp))
    older = exp / "experiment_state-2026-01-01_00-00-00.json"
    older.write_text('{"trial_data": []}')
    with pytest.raises(ExperimentFilesError, match=rf"delete it to resume from {older.name}"):
        check_resumable(str(exp))
    state.write_text("[]")
    with pytest.raises(ExperimentFilesError, match=r"is not a Tune experiment state \(no trial_data list\)"):
        check_resumable(str(exp))


def test_a_corrupt_stored_spec_is_refused(tmp_path):
    exp = _stored_experiment(tmp_path)
    (exp / "spec.yaml").write_text("model: [rf]\nmodel: [cnn]\n")
    with pytest.raises(ExperimentFilesError, match=r"--resume: spec .*spec.yaml: duplicate key 'model' at line 2"):
        check_resumable(str(exp))


def test_exponents_without_a_dot_are_numbers_as_people_write_them():
    """PyYAML reads 1e3 as text; the spec reads it as the number, for fractions and prices."""
    text = ("model: [rf]\nsample_frac: [1e-1, 2.5E-1]\ndamage_frac: [0]\ndamage_mode: [none]\n"
            "report: {price_label: 1e3, price_audit: 2e+1}\n")
    spec = parse_spec(parse_yaml_text(text, source="exp.yaml"))
    assert spec.grids[0].sample_frac == (0.1, 0.25)
    assert (spec.report["price_label"], spec.report["price_audit"]) == (1000.0, 20.0)
    assert parse_yaml_text("name: 1e3x\nseeds: [1e3]\n", source="s") == {"name": "1e3x", "seeds": [1000.0]}
