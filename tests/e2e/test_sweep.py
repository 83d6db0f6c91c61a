"""The `smoke` sweep through real Ray Tune, end to end, no mocks: one fixture runs it once."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.spec import expand_trials
from datavsmath.sweeps.validation import load_spec
from tests.browser import render_report
from tests.conftest import CLI, cli_env, run_cli

SMOKE_TIMEOUT_S = 300
NETS = ("dnn", "cnn")
CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"
# ``Field list `NAME`: `a, b, c` `` in CONTRACTS.md; a list may wrap over lines
FIELD_LIST = re.compile(r"^Field list `([a-z0-9-]+)`: `([^`]+)`", re.MULTILINE)
FIELD_LISTS = ("params-config", "tune-result-keys", "epoch-metrics", "final-metrics", "final-metrics-rf",
               "final-metrics-xgb", "final-metrics-dnn", "final-metrics-cnn", "results-columns",
               "seed-results-columns")


LIVE_POLL_S = 0.2


def _run_keeping_live_reports(args: list[str], *, report: Path, timeout: float) -> tuple[subprocess.CompletedProcess,
                                                                                         list[str]]:
    """Run the CLI to the end, copying each live version of `report` seen while it runs."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    live: list[str] = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if report.is_file():
            text = report.read_text()  # written atomically: never half a page
            if 'class="live"' in text and (not live or text != live[-1]):
                live.append(text)
        time.sleep(LIVE_POLL_S)
    stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), live


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke sweep at the default verbosity, its live report rewritten as often as it can be."""
    storage = tmp_path_factory.mktemp("storage")
    proc, live = _run_keeping_live_reports(
        ["sweep", "smoke", "--storage", str(storage), "--no-dashboard", "--live-every", "0"],
        report=storage / "smoke" / "report.html", timeout=SMOKE_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    live_dir = tmp_path_factory.mktemp("live")
    for i, text in enumerate(live):
        (live_dir / f"live-{i}.html").write_text(text)
    return storage / "smoke", proc, sorted(live_dir.glob("live-*.html"))


def test_one_result_row_per_combination(smoke):
    exp, *_ = smoke
    df = pd.read_parquet(exp / "results.parquet")
    expected = expand_trials(load_spec("smoke"))
    assert len(df) == len(expected)
    axes = ["model", "sample_frac", "damage_frac", "damage_mode", "repair", "seed"]
    got = set(df[axes].itertuples(index=False, name=None))
    assert got == {tuple(t[a] for a in axes) for t in expected}
    assert (df["repair"] == "none").all() and (df["n_flagged"] == 0).all() and (df["repair_seconds"] == 0).all()
    # the realized noise: every trial's labels are wrong at its damage_frac, per class too
    assert (df["noise_rate"] - df["damage_frac"]).abs().max() < 0.01
    assert all(len(rates) == 10 for rates in df["noise_rate_per_class"])
    assert (df["status"] == "TERMINATED").all()
    assert df["acc"].between(0.3, 1).all() and df["auc"].between(0.5, 1).all()
    assert (df["n_train"] > 0).all()
    # damaged trials damaged exactly round(0.2 * n_c) per class, so about 20 % overall
    damaged = df[df["damage_frac"] > 0]
    assert ((damaged["n_damaged"] / (damaged["n_train"] + damaged["n_val"])).round(2) == 0.2).all()


def test_tidy_and_seed_format_files_exist(smoke):
    exp, proc, _ = smoke
    assert len(pd.read_csv(exp / "results.csv")) == 12
    seed = pd.read_csv(exp / "seed_results.csv")
    assert {"frac", "exp_name", "acc", "auc"} <= set(seed.columns)
    assert set(seed["exp_name"]) == {"rf", "xgb", "dnn", "cnn"}
    assert str(exp / "results.parquet") in proc.stdout
    assert (exp / "report.html").is_file()


def _trial_dirs(exp: Path) -> list[Path]:
    return [p for p in exp.iterdir() if p.is_dir() and (p / "params.json").is_file()]


def test_nets_report_every_epoch_to_tune_and_tensorboard(smoke):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    exp, *_ = smoke
    overrides = load_spec("smoke").overrides
    nets = [d for d in _trial_dirs(exp) if json.loads((d / "params.json").read_text())["model"] in NETS]
    assert len(nets) == 6
    for trial in nets:
        model = json.loads((trial / "params.json").read_text())["model"]
        epochs = overrides[model]["epochs"]
        rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [r["epoch"] for r in rows if "epoch" in r and not r.get("done")] == list(range(1, epochs + 1))
        # smoke trials take seconds: under the default checkpoint period none is checkpointed
        assert not list(trial.glob("checkpoint_*")), f"unexpected checkpoint in a short trial {trial}"
        events = list(trial.glob("events.out.tfevents.*"))
        assert events, f"no TensorBoard event file in {trial}"
        acc = EventAccumulator(str(trial))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        val_acc = [t for t in tags if t.endswith("val_acc")]
        assert val_acc, tags
        assert len(acc.Scalars(val_acc[0])) >= epochs


def test_trials_ran_with_one_thread_each_on_cpu(smoke):
    exp, *_ = smoke
    df = pd.read_parquet(exp / "results.parquet")
    assert (df["device"] == "cpu").all()
    finals = [lines[-1] for _, lines in _trial_files(exp)]  # threads follow the trial's 1 CPU
    assert len(finals) == 12 and all(f["threads"] == 1 and f.get("torch_threads", 1) == 1 for f in finals), finals
    nets = [lines[-1] for params, lines in _trial_files(exp) if params["model"] in NETS]
    assert len(nets) == 6 and all("torch_threads" in f for f in nets), nets  # the trees report n_jobs / nthread
    # The embedded Ray's workers inherit one malloc arena from the driver (no job runtime_env).
    assert all("glibc.malloc.arena_max=1" in f["glibc_tunables"] for f in finals), finals


def test_report_command_and_status_on_the_finished_sweep(smoke, tmp_path):
    exp, *_ = smoke
    out = tmp_path / "r.html"
    proc = run_cli("report", str(exp), "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.stat().st_size > 1_000_000  # plotly.js inlined
    assert "<script src=\"http" not in out.read_text()
    seen = render_report(out, screenshot="smoke-report.png")
    assert seen["figures"] and all(f["plots"] == 1 and f["drawn"] == f["expected"] > 0 for f in seen["figures"])
    assert {"size", "damage"} <= {f["key"] for f in seen["figures"]}, seen["keys"]
    assert seen["table_rows"] and seen["errors"] == [] and seen["requests"] == []
    status = run_cli("status", str(exp), timeout=60)
    assert status.returncode == 0, status.stderr
    assert "12 done" in status.stdout.lower() or "done: 12" in status.stdout.lower(), status.stdout


def test_regenerating_result_files_is_idempotent(smoke):
    from datavsmath.analysis.load import write_result_files

    exp, *_ = smoke
    before = {name: (exp / name).read_bytes() for name in ("results.csv", "seed_results.csv")}
    frame_before = pd.read_parquet(exp / "results.parquet")
    write_result_files(str(exp))
    write_result_files(str(exp))
    assert {name: (exp / name).read_bytes() for name in before} == before
    pd.testing.assert_frame_equal(pd.read_parquet(exp / "results.parquet"), frame_before)
    assert not list(exp.glob("*.tmp*")), "temp files of the atomic write were left behind"


# ---------------------------------------------------------------- docs/CONTRACTS.md vs the files

def contract_fields() -> dict[str, list[str]]:
    """The field lists of docs/CONTRACTS.md, by name, in their written order."""
    found: dict[str, list[str]] = {}
    for name, text in FIELD_LIST.findall(CONTRACTS.read_text()):
        assert name not in found, f"CONTRACTS.md names field list {name!r} twice"
        fields = [f.strip() for f in text.split(",")]
        assert all(re.fullmatch(r"[a-z_]+", f) for f in fields), (name, fields)
        assert len(set(fields)) == len(fields), f"{name}: a field is listed twice: {fields}"
        found[name] = fields
    return found


def test_contracts_md_has_every_field_list():
    assert sorted(contract_fields()) == sorted(FIELD_LISTS)


def _trial_files(exp: Path) -> list[tuple[dict, list[dict]]]:
    """(params.json, result.json lines) of every trial folder."""
    return [(json.loads((d / "params.json").read_text()),
             [json.loads(line) for line in (d / "result.json").read_text().splitlines()])
            for d in sorted(_trial_dirs(exp))]


def test_params_json_holds_the_documented_config(smoke):
    exp, *_ = smoke
    documented = contract_fields()["params-config"]
    trials = _trial_files(exp)
    assert len(trials) == 12
    for params, _ in trials:
        assert sorted(params) == sorted(documented), params
    assert sorted(p["trial"] for p, _ in trials) == list(range(12))


def test_result_lines_hold_the_documented_keys(smoke):
    """Every key of every result line is documented, and every documented key is there."""
    exp, *_ = smoke
    fields = contract_fields()
    tune_keys = set(fields["tune-result-keys"])
    for params, lines in _trial_files(exp):
        model = params["model"]
        *epochs, last = lines
        assert last.get("done") is True, (model, last)
        expected = tune_keys | set(fields["final-metrics"]) | set(fields.get(f"final-metrics-{model}", []))
        assert set(last) == expected, (model, "undocumented:", sorted(set(last) - expected),
                                       "missing:", sorted(expected - set(last)))
        assert len(epochs) == (params["overrides"]["epochs"] if model in NETS else 0), (model, len(epochs))
        for line in epochs:
            assert set(line) == tune_keys | set(fields["epoch-metrics"]), (model, sorted(line))


def test_result_files_have_the_documented_columns_in_order(smoke):
    exp, *_ = smoke
    fields = contract_fields()
    assert list(pd.read_parquet(exp / "results.parquet").columns) == fields["results-columns"]
    assert list(pd.read_csv(exp / "results.csv").columns) == fields["results-columns"]
    assert list(pd.read_csv(exp / "seed_results.csv").columns) == fields["seed-results-columns"]


# ---------------------------------------------------------------- what a person sees

FINISHED_LINE = re.compile(r"^\[\s*(\d+)/(\d+)\] (\w+)\s+sample_frac=([\d.e-]+)\s+damage_frac=([\d.e-]+)\s+(\w+)\s+"
                           r"seed=(\d+)  acc=([\d.]+) auc=([\d.]+)  ([\d.]+) s$", re.MULTILINE)


def test_one_compact_line_per_finished_trial_naming_its_combination(smoke):
    exp, proc, _ = smoke
    lines = FINISHED_LINE.findall(proc.stdout)
    expected = {trial_name(t) for t in expand_trials(load_spec("smoke"))}
    named = [f"{m}_s{float(s):g}_d{float(d):g}_{mode}_seed{seed}" for _, _, m, s, d, mode, seed, *_ in lines]
    assert sorted(named) == sorted(expected), proc.stdout
    assert sorted(int(k) for k, *_ in lines) == list(range(1, 13)) and {n for _, n, *_ in lines} == {"12"}
    df = pd.read_parquet(exp / "results.parquet").assign(name=lambda d: [trial_name(r) for _, r in d.iterrows()])
    acc = dict(zip(df["name"], df["acc"]))
    assert all(abs(float(line[7]) - acc[name]) < 1e-4 for line, name in zip(lines, named))


def test_default_output_is_short_and_has_one_tensorboard_hint(smoke):
    exp, proc, _ = smoke
    out = proc.stdout + proc.stderr
    assert len(out.splitlines()) < 45, out  # 12 trial lines, the plan, links, summary; no Tune boxes
    assert out.count("tensorboard --logdir") == 1 and f"tensorboard --logdir {exp}" in out
    assert "Trial status" not in out and "Trial train_trial" not in out and "driver_artifacts" not in out
    assert re.search(r"^status: 12 done, 0 running, 0 pending, 0 errored", proc.stdout, re.MULTILINE), proc.stdout


def test_trial_folders_are_named_by_the_combination_in_their_params(smoke):
    exp, *_ = smoke
    folders = _trial_dirs(exp)
    assert len(folders) == 12
    for folder in folders:
        params = json.loads((folder / "params.json").read_text())
        assert folder.name == trial_name(params) == params["name"], folder


def test_the_live_report_showed_fewer_trials_and_reloaded_the_final_one_does_not(smoke, tmp_path):
    exp, _, live = smoke
    assert live, "no live report was seen while the sweep ran"
    counts = [tuple(map(int, re.search(r'data-live="(\d+)/(\d+)"', p.read_text()).groups())) for p in live]
    assert all(total == 12 and 0 < k < 12 for k, total in counts), counts
    read_live = "() => [document.querySelector('.live')?.textContent ?? null, " \
                "document.querySelector('script[src$=\"_live.js\"]')?.getAttribute('src') ?? null]"
    first = shutil.copy(live[0], tmp_path / "live.html")
    banner, refresh = render_report(Path(first), screenshot="smoke-live-report.png",
                                    interact=lambda page: page.evaluate(read_live))["extra"]
    # The copy has no heartbeat beside it: it says the sweep stopped updating it, and stays.
    assert re.match(r"live: \d+ of 12 trials finished, updated \d\d:\d\d", banner), banner
    assert refresh == "report_live.js" and "the sweep stopped updating this page" in banner, (banner, refresh)
    seen = render_report(exp / "report.html", screenshot="smoke-final-report.png",
                         interact=lambda page: page.evaluate(read_live))
    assert seen["extra"] == [None, None]
    assert seen["figures"] and all(f["drawn"] == f["expected"] > 0 for f in seen["figures"])
