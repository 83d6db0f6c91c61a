"""Bad input fails before Ray starts: exit 2, one message naming the field and the value."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import ray
from PIL import Image
from sklearn.datasets import load_digits, load_wine

from datavsmath.cli import main
from datavsmath.trainables.datasets.built_in import DEBIAN_DIR, IDX_MD5

GOOD = "model: [rf]\nsample_frac: [0.1]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"
RAY_EXPERIMENT = Path(__file__).parents[1] / "data" / "analysis" / "ray_experiment"

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
    ("fractions_equal_after_rounding", GOOD.replace("[0.1]", "[0.1, 0.10000000000001]"),
     r"sample_frac values 0.1 and 0.10000000000001 are equal after rounding to 10 decimals, which the results use"),
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
    ("resources_bad_form", ["sweep", "smoke", "--resources", "cpu=1"], r"MODEL a model of the sweep \(e.g. rf, .*\), "
     r"got 'cpu=1'"),
    ("resources_bad_model", ["sweep", "smoke", "--resources", "svm:cpu=1"], r"--resources for model 'svm': model must "
     r"be one in the sweep \['rf', 'xgb', 'dnn', 'cnn'\], got 'svm'"),
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
    (exp / "tuner.pkl").write_bytes(b"Tune state")  # non-empty: the spec is compared before Tune reads it
    from datavsmath.sweeps.spec import dump_spec
    from datavsmath.sweeps.validation import load_spec
    (exp / "spec.yaml").write_text(dump_spec(load_spec("smoke")))
    code = main(["sweep", str(other), "--name", "smoke", "--storage", str(tmp_path / "results"), "--resume"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--resume: the spec differs from the one stored in" in err


# --------------------------------------------------------------- the reliability table
#
# Every input of the reliability issue that must be refused: exit 2, one `error:` line that
# names the file, field or value, no traceback, Ray never started (the autouse fixture), and
# nothing outside the experiment touched: a sentinel folder beside the experiment and one
# above the storage survive byte for byte, and a refused sweep leaves no experiment.

SWEEP = ("sweep", "{in}/spec.yaml", "--storage", "{storage}", "--name", "exp")
DRY_RUN = (*SWEEP, "--dry-run")


def alias_bomb(key: str) -> str:
    """A 9-level YAML alias bomb under `key`: under 500 bytes that stand for 9^9 values."""
    lines, previous = [f"{key}:"], None
    for name in "abcdefghi":
        items = ", ".join(["rf"] * 9) if previous is None else ", ".join([f"*{previous}"] * 9)
        lines.append(f"  - &{name} [{items}]")
        previous = name
    return "\n".join(lines) + "\n"


def billion_trials() -> str:
    """4 models x 1000 sample_fracs x 1000 damage_fracs x 2 modes x 125 seeds = 10^9 trials."""
    sample = ", ".join(str(i / 1000) for i in range(1, 1001))
    damage = ", ".join(str(i / 1000) for i in range(1000))
    return (f"model: [rf, xgb, dnn, cnn]\nsample_frac: [{sample}]\ndamage_frac: [{damage}]\n"
            f"damage_mode: [random, constant]\nseeds: [{', '.join(map(str, range(125)))}]\n")


def data_without_train_labels(folder: Path) -> None:
    """The real Fashion-MNIST files, linked, except train-labels-idx1-ubyte."""
    folder.mkdir()
    for name in IDX_MD5:
        if name != "train-labels-idx1-ubyte":
            (folder / f"{name}.gz").symlink_to(DEBIAN_DIR / f"{name}.gz")


def digit_images(folder: Path, extra: Callable[[Path], None]) -> None:
    """scikit-learn's digits 0 and 1 as 8x8 PNGs in class folders (8 each), then `extra`."""
    digits = load_digits(n_class=2)
    for i, (image, label) in enumerate(zip(digits.images[:16], digits.target[:16])):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 15).astype(np.uint8)).save(folder / str(label) / f"{i}.png")
    extra(folder)


def symlink_loop(folder: Path) -> None:
    for name in ("again", "and_again"):  # a walk that follows both links branches 2^40 times
        (folder / "1" / name).symlink_to(folder / "1", target_is_directory=True)


def huge_image(folder: Path) -> None:
    Image.new("1", (14000, 14000)).save(folder / "1" / "huge.png")  # 24 KB, 196 million pixels


def float_image(folder: Path) -> None:
    Image.fromarray(np.eye(8, dtype=np.float32)).save(folder / "1" / "float.tiff")


def wine_with_a_repeated_column(folder: Path) -> None:
    frame = load_wine(as_frame=True).frame
    frame.insert(1, "alcohol_again", frame["alcohol"])
    folder.mkdir()
    frame.rename(columns={"alcohol_again": "alcohol"}).to_csv(folder / "wine.csv", index=False)


def wine_with_blank_labels(folder: Path) -> None:
    frame = load_wine(as_frame=True).frame.astype({"target": object})
    frame.loc[[2, 40, 41], "target"] = ""
    folder.mkdir()
    frame.to_csv(folder / "wine.csv", index=False)


def digits_with_nan_labels(folder: Path) -> None:
    digits = load_digits(n_class=2)
    folder.mkdir()
    np.savez(folder / "d.npz", x=digits.data, y=np.where(np.arange(len(digits.target)) == 5, np.nan, digits.target))


def transition_linked_to_a_secret(folder: Path) -> None:
    folder.mkdir()
    (folder / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "t.csv").symlink_to(folder / "secret.txt")


MATRIX = GOOD.replace("[0.0]", "[0.2]").replace("[none]", "[matrix]")
IMAGES = GOOD + "dataset: {kind: images, path: data, color: grayscale}\n"
TABLE = GOOD + "dataset: {kind: table, path: data/wine.csv, label: target}\n"


def recorded_experiment(edit: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A builder of the experiment: the recorded Tune experiment, then `edit` applied to it."""
    def build(exp: Path) -> None:
        shutil.copytree(RAY_EXPERIMENT, exp)
        if edit is not None:
            edit(exp)
    return build


def huge_stored_seed(exp: Path) -> None:
    spec = exp / "spec.yaml"
    spec.write_text(spec.read_text().replace("seeds: [0, 1, 2, 3]", f"seeds: [0, 1, 2, {2**63}]"))


def only_a_broken_parquet(exp: Path) -> None:
    exp.mkdir()
    (exp / "results.parquet").write_bytes(b"PAR1 but not really")


@dataclass(frozen=True)
class Bad:
    """One refused input: the command (`{in}`: the inputs folder, `{storage}`, `{exp}`: the
    experiment `{storage}/exp`), the pattern its error line must match, and what is set up."""

    id: str
    match: str
    spec: str | bytes | None = None              # written to {in}/spec.yaml
    argv: tuple[str, ...] = SWEEP
    inputs: tuple[tuple[str, str | bytes], ...] = ()  # more files in {in}
    env: tuple[tuple[str, str], ...] = ()
    prepare: Callable[[Path], None] | None = None    # builds {in}/data
    experiment: Callable[[Path], None] | None = None  # builds {exp} before the command


REPORT_REF = ("report", "{exp}", "--reference")
BAD_INPUTS = [
    # 3. seeds beyond what numpy's SeedSequence and every library take
    Bad("seed_2_32", r"seeds must be in \[0, 4294967295\], got 4294967296", spec=GOOD + f"seeds: [{2**32}]\n"),
    Bad("seed_2_63", r"seeds must be in \[0, 4294967295\], got 9223372036854775808", spec=GOOD + f"seeds: [{2**63}]\n"),
    Bad("stored_spec_huge_seed_status", r"spec .*exp/spec.yaml: seeds must be in \[0, 4294967295\], got 9223372036854775808",
        argv=("status", "{exp}"), experiment=recorded_experiment(huge_stored_seed)),
    Bad("stored_spec_huge_seed_report", r"spec .*exp/spec.yaml: seeds must be in \[0, 4294967295\], got 9223372036854775808",
        argv=("report", "{exp}"), experiment=recorded_experiment(huge_stored_seed)),
    # 5. memory: alias bombs, a billion-trial grid, a number too long to read
    Bad("alias_bomb_in_model", r"spec .*spec.yaml: more than 100000 YAML nodes after expanding aliases",
        spec=alias_bomb("model") + "sample_frac: [0.1]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"),
    Bad("alias_bomb_in_description", r"spec .*spec.yaml: more than 100000 YAML nodes after expanding aliases",
        spec=GOOD + alias_bomb("description")),
    Bad("recursive_alias", r"spec .*spec.yaml: an alias at or below line 1 refers to a node that contains it",
        spec="model: &a [rf, *a]\n"),
    Bad("billion_trials", r"spec .*spec.yaml: 1000000000 trials \(counted before merging duplicates\), "
        r"more than --max-trials 100000", spec=billion_trials()),
    Bad("integer_of_5000_digits", r"spec .*spec.yaml: malformed YAML: a value cannot be read \(Exceeds the limit",
        spec=GOOD + f"seeds: [{'1' * 5000}]\n"),
    Bad("description_not_text", r"description must be a string, got list \['a', 'b'\]", spec=GOOD + "description: [a, b]\n"),
    # 6. nonsense that used to fail only once Ray ran the trials
    Bad("no_rows_for_rf", r"sample_frac 1e-05 gives rf 0 of the 60000 training rows; rf needs at least 10 \(one per class\)",
        spec=GOOD.replace("[0.1]", "[0.00001]")),
    Bad("one_row_for_dnn", r"sample_frac 1\.67e-05 gives dnn 1 of the 60000 training rows: 0 to fit and 1 to validate "
        r"\(validation_split 0\.2\); dnn needs at least 1 of each", spec=GOOD.replace("[rf]", "[dnn]").replace("[0.1]", "[0.0000167]")),
    Bad("cpu_below_ray_resolution", r"resources\.rf\.cpu must be a multiple of 0\.0001 \(Ray's resource unit\), got 1e-09",
        spec=GOOD + "resources: {rf: {cpu: 0.000000001}}\n"),
    Bad("gpu_share_below_ray_resolution", r"gpu_share must be a multiple of 0\.0001 \(Ray's resource unit\), got 1e-09",
        spec=GOOD + "gpu_share: 0.000000001\n"),
    Bad("resources_flag_below_ray_resolution", r"--resources\.rf\.cpu must be a multiple of 0\.0001.*got 1e-05",
        spec=GOOD, argv=(*SWEEP, "--resources", "rf:cpu=0.00001")),
    Bad("fractional_gpu_above_one", r"resources\.dnn\.gpu must be a fraction <= 1 or a whole number, got 1\.5",
        spec=GOOD.replace("[rf]", "[dnn]") + "resources: {dnn: {cpu: 1, gpu: 1.5}}\n", argv=DRY_RUN),
    Bad("gpus_on_no_node_dry_run", r"resources for dnn: request \{cpu: 1, gpu: 64\} fits no single node",
        spec=GOOD.replace("[rf]", "[dnn]") + "resources: {dnn: {cpu: 1, gpu: 64}}\n", argv=DRY_RUN),
    Bad("cpus_on_no_node_dry_run", r"resources for rf: request \{cpu: 4096, gpu: 0\} fits no single node",
        spec=GOOD + "resources: {rf: {cpu: 4096}}\n", argv=DRY_RUN),
    # 7. what used to be tracebacks
    Bad("non_utf8_spec", r"spec .*spec.yaml: not UTF-8 text \(byte 0xff at offset 10\)", spec=b"model: [rf\xff]\n"),
    Bad("nested_2000_levels", r"spec .*spec.yaml: nested deeper than 50 levels \(line 1\)",
        spec="model: " + "[" * 2000 + "]" * 2000 + "\n"),
    Bad("nul_in_spec_name", r"name must be 1-200 letters, .*got 'a\\x00b'", spec='name: "a\\0b"\n' + GOOD),
    Bad("nul_in_spec_path", r"spec must be a YAML file or a shipped spec name without NUL bytes, got 'a\\x00b.yaml'",
        argv=("sweep", "a\0b.yaml", "--storage", "{storage}")),
    Bad("reference_csv_row_longer_than_header", r"CSV .*long.csv cannot be read as CSV: a line has more fields than "
        r"the header", argv=(*REPORT_REF, "{in}/long.csv"),
        inputs=(("long.csv", "frac,exp_name,acc,auc\n0.1,cnn,0.9,0.99,7,8\n"),), experiment=recorded_experiment()),
    Bad("reference_csv_unclosed_quote", r"CSV .*quote.csv cannot be read as CSV: .*EOF inside string",
        argv=(*REPORT_REF, "{in}/quote.csv"), inputs=(("quote.csv", 'frac,exp_name,acc,auc\n0.1,"cnn,0.9\n'),),
        experiment=recorded_experiment()),
    Bad("reference_csv_empty", r"CSV .*empty.csv is empty: no header line", argv=(*REPORT_REF, "{in}/empty.csv"),
        inputs=(("empty.csv", ""),), experiment=recorded_experiment()),
    Bad("reference_csv_wrong_columns", r"CSV .*cols.csv must be a results.csv .*got columns \['x', 'y'\]",
        argv=(*REPORT_REF, "{in}/cols.csv"), inputs=(("cols.csv", "x,y\n1,2\n"),), experiment=recorded_experiment()),
    Bad("reference_csv_not_numbers", r"CSV .*acc.csv: column acc must hold numbers, got 'high' on line 2",
        argv=(*REPORT_REF, "{in}/acc.csv"), inputs=(("acc.csv", "frac,exp_name,acc,auc\n0.1,cnn,high,0.99\n"),),
        experiment=recorded_experiment()),
    Bad("reference_csv_acc_of_7", r"CSV .*acc7.csv: column acc must be in \[0, 1\], got 7 on line 3",
        argv=(*REPORT_REF, "{in}/acc7.csv"), inputs=(("acc7.csv", "frac,exp_name,acc,auc\n0.1,cnn,0.9,0.99\n"
                                                                 "0.2,cnn,7,0.99\n"),), experiment=recorded_experiment()),
    Bad("reference_csv_auc_of_minus_5", r"CSV .*auc.csv: column auc must be in \[0, 1\], got -5 on line 2",
        argv=(*REPORT_REF, "{in}/auc.csv"), inputs=(("auc.csv", "frac,exp_name,acc,auc\n0.1,cnn,0.9,-5\n"),),
        experiment=recorded_experiment()),
    Bad("report_price_audit_of_1e308", r"prices.audit must be in \[0, 1000000000000\], got 1e\+308",
        argv=("report", "{exp}", "--prices", "audit=1e308"), experiment=recorded_experiment()),
    # A stated situation the results cannot answer writes nothing
    Bad("report_current_model_not_swept", r"current.model must be one of \['cnn'\], got 'xgb'$",
        argv=("report", "{exp}", "--current", "model=xgb"), experiment=recorded_experiment()),
    Bad("report_current_n_above_the_datasets_rows", r"current.n must be at most the dataset's 60,000 training rows, "
        r"got 100,000$", argv=("report", "{exp}", "--current", "n=100000"), experiment=recorded_experiment()),
    Bad("report_current_n_beyond_the_data", r"current.n 5,000 is beyond the data \(more than 4× the largest size "
        r"swept: 2,400 labels\): the largest size swept for cnn is 600; sweep larger sizes to read it$",
        argv=("report", "{exp}", "--current", "n=5000"), experiment=recorded_experiment()),
    Bad("report_current_damage_mode_not_swept", r"current.damage_mode 'constant' was not swept for cnn; swept: "
        r"'none'$", argv=("report", "{exp}", "--current", "damage_mode=constant"), experiment=recorded_experiment()),
    Bad("report_out_is_a_directory", r"--out must be the HTML file to write, got '.*inputs' \(a directory\)",
        argv=("report", "{exp}", "--out", "{in}"), experiment=recorded_experiment()),
    # two fractions that draw the same rows: one trial run twice
    Bad("sample_fracs_of_one_size", r"sample_frac 0.5 and 0.50001 both draw 30,000 of the 60,000 training rows: the "
        r"same trial twice; keep one of them$", spec=GOOD.replace("[0.1]", "[0.5, 0.50001]"), argv=DRY_RUN),
    # /proc takes no new files: the message names the file asked for, not our temp file beside it
    Bad("report_out_where_nothing_can_be_written", r"cannot write /proc/version: No such file or directory$",
        argv=("report", "{exp}", "--out", "/proc/version"), experiment=recorded_experiment()),
    Bad("report_out_overwriting_the_experiments_spec", r"--out .*exp/spec.yaml is inside the experiment .*exp, where "
        r"only its report .*exp/report.html may be written", argv=("report", "{exp}", "--out", "{exp}/spec.yaml"),
        experiment=recorded_experiment()),
    Bad("report_out_overwriting_its_results_file", r"--out .*inputs/talk.csv is an input of this report",
        argv=("report", "{in}/talk.csv", "--out", "{in}/talk.csv"),
        inputs=(("talk.csv", (RAY_EXPERIMENT.parent / "talk_size_snippet.csv").read_text()),)),
    Bad("report_out_overwriting_its_reference", r"--out .*inputs/talk.csv is an input of this report",
        argv=(*REPORT_REF, "{in}/talk.csv", "--out", "{in}/talk.csv"),
        inputs=(("talk.csv", (RAY_EXPERIMENT.parent / "talk_size_snippet.csv").read_text()),),
        experiment=recorded_experiment()),
    Bad("status_of_a_broken_parquet", r"results.parquet is not a readable parquet file", argv=("status", "{exp}"),
        experiment=only_a_broken_parquet),
    Bad("status_of_a_text_file", r"results path must be an experiment directory, a .parquet or a .csv file",
        argv=("status", "{in}/notes.txt"), inputs=(("notes.txt", "hello\n"),)),
    Bad("nul_in_status_path", r"results path must not contain a NUL byte", argv=("status", "{storage}/a\0b")),
    # 9. input that used to be ignored without a word
    Bad("duplicate_key", r"spec .*spec.yaml: duplicate key 'model' at line 5 \(first at line 1\)", spec=GOOD + "model: [xgb]\n"),
    Bad("incomplete_env_data_folder", r"\$DATAVSMATH_DATA .*/data lacks the Fashion-MNIST file train-labels-idx1-ubyte "
        r"\(raw or .gz\)", spec=GOOD, env=(("DATAVSMATH_DATA", "{in}/data"),), prepare=data_without_train_labels),
    Bad("incomplete_data_dir", r"data_dir .*/data lacks the Fashion-MNIST file train-labels-idx1-ubyte",
        spec=GOOD, argv=(*SWEEP, "--data-dir", "{in}/data"), prepare=data_without_train_labels),
    Bad("resources_for_a_model_not_in_the_sweep", r"--resources for model 'cnn': model must be one in the sweep "
        r"\['rf'\], got 'cnn'", spec=GOOD, argv=(*DRY_RUN, "--resources", "cnn:cpu=1")),
    Bad("max_trials_negative", r"--max-trials: must be a non-negative integer, got '-1'", spec=GOOD,
        argv=(*SWEEP, "--max-trials", "-1")),
    # image folders and tables that used to hang, raise or pass unchecked
    Bad("image_folder_with_a_symlink_loop", r"data/1/again: a link to .*data/1, a folder already read \(a loop\)",
        spec=IMAGES, prepare=lambda folder: digit_images(folder, symlink_loop)),
    Bad("image_of_14000x14000_pixels", r"data/1/huge.png: cannot read as an image \(Image size \(196000000 pixels\)",
        spec=IMAGES.replace("color:", "size: [8, 8], color:"), prepare=lambda folder: digit_images(folder, huge_image)),
    Bad("image_of_float_pixels", r"data/1/float.tiff: 32-bit float pixels \(mode F\) have no fixed range",
        spec=IMAGES, prepare=lambda folder: digit_images(folder, float_image)),
    Bad("csv_with_a_repeated_column_name", r"data/wine.csv: duplicate column names 'alcohol'$", spec=TABLE,
        prepare=wine_with_a_repeated_column),
    Bad("csv_with_blank_labels", r"data/wine.csv: label column 'target' has 3 missing labels \(None, NaN, NA or an "
        r"empty string\) of 178 rows, at data rows 3, 41, 42; every row needs a label", spec=TABLE,
        prepare=wine_with_blank_labels),
    Bad("npz_with_nan_labels", r"data/d.npz: y has 1 missing label \(None, NaN, NA or an empty string\) of 360 "
        r"rows, at rows 5; every row needs a label", spec=GOOD + "dataset: {kind: arrays, path: data/d.npz}\n",
        prepare=digits_with_nan_labels),
    Bad("transition_file_linked_to_a_secret", r"transition file .*data/t.csv cannot be read as a comma-separated "
        r"matrix of numbers \(row 1, column 1 is not a number\)$", spec=MATRIX + "transition: data/t.csv\n",
        prepare=transition_linked_to_a_secret),
    Bad("report_price_audit_of_1e308_in_the_spec", r"report.price_audit must be in \[0, 1000000000000\], got 1e\+308",
        spec=GOOD + "report: {price_audit: 1.0e+308}\n", argv=DRY_RUN),
    Bad("repair_folds_larger_than_a_class_of_a_subset", r"sample_frac 0.1, damage_frac 0.2 \(constant\), seed 0: "
        r"repair with folds=5 needs at least 5 labels of every class; class \d has \d \(of 14 training labels\); "
        r"lower repair_model.folds or raise sample_frac",
        spec="model: [rf]\nsample_frac: [0.1, 1.0]\ndamage_frac: [0.2]\ndamage_mode: [constant]\nrepair: [prune]\n"
             "repair_model: {model: rf, folds: 5}\ndataset: {kind: table, path: data/wine.csv, label: target}\n",
        prepare=lambda folder: (folder.mkdir(), load_wine(as_frame=True).frame.to_csv(folder / "wine.csv", index=False))),
    # 10. a directory given as the spec
    Bad("spec_is_a_directory", r"spec .*inputs is a directory, not a YAML file", argv=("sweep", "{in}", "--storage", "{storage}")),
]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), and every folder (-> b"<dir>")."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(folder.rglob("*"))}


def _sentinel(folder: Path) -> Path:
    (folder / "nested").mkdir(parents=True)
    (folder / "keep.txt").write_text("must survive\n")
    (folder / "nested" / "results.parquet").write_bytes(bytes(range(256)))
    return folder


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_touches_nothing(case, tmp_path, capsys, monkeypatch):
    inputs, top = tmp_path / "inputs", tmp_path / "top"
    storage, exp = top / "storage", top / "storage" / "exp"
    inputs.mkdir()
    sentinels = [_sentinel(top / "sentinel_above_storage"), _sentinel(storage / "sentinel_beside_experiment")]
    if case.spec is not None:
        target = inputs / "spec.yaml"
        target.write_bytes(case.spec if isinstance(case.spec, bytes) else case.spec.encode())
    for name, content in case.inputs:
        (inputs / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.prepare is not None:
        case.prepare(inputs / "data")
    if case.experiment is not None:
        case.experiment(exp)
    before = [_tree(folder) for folder in (*sentinels, exp) if folder.exists()]

    def fill(text: str) -> str:
        return text.replace("{in}", str(inputs)).replace("{storage}", str(storage)).replace("{exp}", str(exp))

    for key, value in case.env:
        monkeypatch.setenv(key, fill(value))
    argv = [fill(a) for a in case.argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if re.match(r"datavsmath( \w+)?: error: ", line)]
    assert len(errors) == 1, err
    assert re.search(case.match, errors[0]), errors[0]
    assert [_tree(folder) for folder in (*sentinels, exp) if folder.exists()] == before
    if case.experiment is None:
        assert not exp.exists(), f"a refused command created {exp}"


def test_a_start_killed_before_tune_saved_anything_gets_one_answer_not_round_in_circles(tmp_path, capsys):
    """An experiment holding only its spec.yaml (no Tune state, so --overwrite may not delete
    it): --resume and a plain rerun both say the same thing to do."""
    from datavsmath.sweeps.spec import dump_spec
    from datavsmath.sweeps.validation import load_spec
    exp = tmp_path / "results" / "smoke"
    exp.mkdir(parents=True)
    (exp / "spec.yaml").write_text(dump_spec(load_spec("smoke")))
    storage = ["--storage", str(tmp_path / "results")]
    assert main(["sweep", "smoke", *storage, "--resume"]) == 2
    assert "(no tuner.pkl); no trial ran: delete that folder to start again, or choose another --name" \
        in capsys.readouterr().err
    assert main(["sweep", "smoke", *storage]) == 2
    assert ("was started but no trial ran (it holds only spec.yaml); delete that folder to start again, or choose "
            "another --name") in capsys.readouterr().err


def test_resume_with_an_empty_tuner_pkl_is_one_line(tmp_path, capsys):
    from datavsmath.sweeps.spec import dump_spec
    from datavsmath.sweeps.validation import load_spec
    exp = tmp_path / "results" / "smoke"
    exp.mkdir(parents=True)
    (exp / "spec.yaml").write_text(dump_spec(load_spec("smoke")))
    (exp / "tuner.pkl").write_bytes(b"")
    assert main(["sweep", "smoke", "--storage", str(tmp_path / "results"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tuner.pkl is empty (0 bytes)" in err and "Traceback" not in err


def test_status_and_report_do_not_need_the_py_modules_folder_of_the_sweep(tmp_path, capsys):
    """The spec stored with an experiment names a py_modules folder that has since moved:
    status and report read the results without it, where they used to refuse."""
    exp = tmp_path / "exp"
    shutil.copytree(RAY_EXPERIMENT, exp)
    spec = exp / "spec.yaml"
    spec.write_text(spec.read_text() + f"py_modules: [{tmp_path / 'moved' / 'user_pkg'}]\n")
    assert main(["status", str(exp)]) == 0, capsys.readouterr().err
    assert main(["report", str(exp), "--out", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err
