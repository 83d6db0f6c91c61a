"""Bad input fails before Ray starts: exit 2, one message naming the field and the value."""

from __future__ import annotations

import pytest
import ray

from sweeps.cli import main

GOOD = "model: [rf]\nsample_frac: [0.1]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"

# (case id, spec text, message pattern): every malformed-spec class of the reliability issue.
BAD_SPECS = [
    ("bad_yaml", "model: [rf\nsample_frac: [0.1]\n", r"malformed YAML"),
    ("unknown_key", GOOD + "epochs: 3\n", r"unknown key 'epochs'; allowed: model"),
    ("wrong_type", GOOD.replace("[0.1]", "0.1"), r"sample_frac must be a list, got float 0.1"),
    ("unknown_model", GOOD.replace("[rf]", "[svm]"), r"model must be one of \[.*\], got 'svm'"),
    ("unknown_mode", GOOD.replace("[none]", "[evil]"), r"damage_mode must be one of \[.*\], got 'evil'"),
    ("sample_frac_zero", GOOD.replace("[0.1]", "[0]"), r"sample_frac must be in \(0, 1\], got 0"),
    ("sample_frac_big", GOOD.replace("[0.1]", "[1.01]"), r"sample_frac must be in \(0, 1\], got 1.01"),
    ("damage_frac_big", GOOD.replace("[0.0]", "[1.3]").replace("[none]", "[random]"),
     r"damage_frac must be in \[0, 1\], got 1.3"),
    ("damage_frac_negative", GOOD.replace("[0.0]", "[-0.2]").replace("[none]", "[random]"),
     r"damage_frac must be in \[0, 1\], got -0.2"),
    ("none_with_damage", GOOD.replace("[0.0]", "[0.2]"), r"damage_mode 'none' needs damage_frac 0, got damage_frac 0.2"),
    ("empty_axis", GOOD.replace("[rf]", "[]"), r"model must not be empty, got \[\]"),
    ("duplicate_values", GOOD.replace("[0.1]", "[0.1, 0.1]"), r"sample_frac must have distinct values, got duplicates 0.1"),
    ("negative_seed", GOOD + "seeds: [-3]\n", r"seeds must be in \[0, 4294967295\], got -3"),
    ("float_seed", GOOD + "seeds: [0.5]\n", r"seeds must be an integer in \[0, 4294967295\], got 0.5"),
    ("string_seed", GOOD + "seeds: [a]\n", r"seeds must be an integer in \[0, 4294967295\], got 'a'"),
    ("override_not_in_sweep", GOOD + "overrides: {cnn: {epochs: 1}}\n",
     r"overrides for model 'cnn': model must be one in the sweep \['rf'\], got 'cnn'"),
    ("override_unknown_param", GOOD + "overrides: {rf: {trees: 3}}\n", r"unknown key 'trees'"),
    ("override_wrong_type", GOOD + "overrides: {rf: {n_estimators: many}}\n", r"n_estimators.*'many'"),
    ("not_a_mapping", "- rf\n", r"top level must be a mapping of keys, got list"),
]


@pytest.fixture(autouse=True)
def no_ray_before_or_after():
    assert not ray.is_initialized()
    yield
    assert not ray.is_initialized(), "ray.init ran before the input was rejected"


@pytest.mark.parametrize("case,text,match", BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_exits_2_with_field_and_value(case, text, match, tmp_path, capsys):
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text)
    code = main(["sweep", str(spec), "--storage", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("datavsmath: error: ")
    assert "Traceback" not in err
    import re
    assert re.search(match, err), err
    assert not (tmp_path / "results" / case).exists(), "nothing may be written for a rejected spec"


BAD_ARGS = [
    ("unknown_flag", ["sweep", "smoke", "--epochs", "3"], r"unrecognized arguments: --epochs 3"),
    ("max_failures_negative", ["sweep", "smoke", "--max-failures", "-1"], r"--max-failures: .*got '-1'"),
    ("gpu_share_big", ["sweep", "smoke", "--gpu-share", "2"], r"--gpu-share: must be in \(0, 1\], got 2"),
    ("resources_bad_model", ["sweep", "smoke", "--resources", "svm:cpu=1"], r"MODEL in \[.*\], got 'svm:cpu=1'"),
    ("resources_bad_value", ["sweep", "smoke", "--resources", "cnn:cpu=0"], r"cpu must be in \(0, inf\), got 0"),
    ("resources_bad_key", ["sweep", "smoke", "--resources", "cnn:tpu=1"], r"unknown key 'tpu'"),
    ("no_command", [], r"the following arguments are required: command"),
    ("unknown_spec_name", ["sweep", "smok"], r"spec must be a YAML file or one of \[.*\], got 'smok'"),
    ("missing_spec_file", ["sweep", "nope.yaml"], r"spec file nope.yaml does not exist"),
    ("retry_without_resume", ["sweep", "smoke", "--retry-errored"], r"--retry-errored needs --resume"),
]


@pytest.mark.parametrize("case,argv,match", BAD_ARGS, ids=[c[0] for c in BAD_ARGS])
def test_bad_cli_arguments_exit_2(case, argv, match, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    import re
    assert re.search(match, err), err


def test_missing_data_dir(tmp_path, capsys):
    code = main(["sweep", "smoke", "--storage", str(tmp_path), "--data-dir", str(tmp_path / "nodata")])
    err = capsys.readouterr().err
    assert code == 2
    assert "data_dir" in err and str(tmp_path / "nodata") in err and "apt-get install dataset-fashion-mnist" in err
    assert not (tmp_path / "smoke").exists()


def test_unwritable_storage_path(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["sweep", "smoke", "--storage", str(blocker / "results")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"storage path '{blocker / 'results'}' cannot be created" in err


def test_unreachable_storage_uri(capsys):
    code = main(["sweep", "smoke", "--storage", "nosuchscheme://bucket/results"])
    err = capsys.readouterr().err
    assert code == 2
    assert "storage path 'nosuchscheme://bucket/results' cannot be opened" in err


def test_existing_name_without_resume_is_refused(tmp_path, capsys):
    (tmp_path / "smoke").mkdir()
    code = main(["sweep", "smoke", "--storage", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "already exists; use --resume to continue it or --overwrite" in err


def test_resume_without_experiment_is_refused(tmp_path, capsys):
    code = main(["sweep", "smoke", "--storage", str(tmp_path), "--resume"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--resume: no experiment to resume at" in err


def test_resume_with_a_different_spec_is_refused(tmp_path, capsys):
    other = tmp_path / "smoke.yaml"
    other.write_text(GOOD)
    exp = tmp_path / "results" / "smoke"
    exp.mkdir(parents=True)
    (exp / "tuner.pkl").write_bytes(b"")
    from sweeps.spec import dump_spec, load_spec
    (exp / "spec.yaml").write_text(dump_spec(load_spec("smoke")))
    code = main(["sweep", str(other), "--name", "smoke", "--storage", str(tmp_path / "results"), "--resume"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--resume: the spec differs from the one stored in" in err
