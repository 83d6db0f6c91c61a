"""datavsmath.analysis.report: the self-contained HTML file, its table files, PNGs, and `datavsmath report`."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from datavsmath.analysis.page import Live
from datavsmath.analysis.report import TableSettings, size_item, table_items, write_report
from datavsmath.analysis.sections import label_damage_item
from datavsmath.analysis.tables import seed_table
from datavsmath.cli import main
from datavsmath.trainables.datasets import load_dataset
from tests.analysis.fixtures import DATA, build_full_report, synthetic_results, write_results
from tests.browser import render_report

TABLE_KEYS = [f"{kind}_{metric}_cnn_constant" for metric in ("acc", "auc") for kind in ("seed", "interpolated")]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    return build_full_report(tmp_path_factory.mktemp("report"))


def figure_keys(html: str) -> list[str]:
    return re.findall(r'data-figure="([^"]+)"', html)


def test_report_is_self_contained(full_report):
    html = full_report.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # no external script at all
    assert "http://" not in re.findall(r"<script[^>]*>", html).__str__()
    assert html.count("<script type=\"text/javascript\">") >= 1 and len(html) > 3_000_000  # plotly.js inlined
    assert html.count("Plotly.newPlot") == len(figure_keys(html))


def test_report_holds_every_supported_figure_and_both_tables(full_report):
    html = full_report.read_text()
    assert figure_keys(html) == ["routes_figure", "size", "damage", "labels", "cross_cnn_constant", "economics_cnn_constant",
                                 "exchange_cnn_constant", "iso_accuracy_cnn_constant", "reference_sample_frac", "reference_damage_frac",
                                 "confusion"]
    assert re.findall(r'data-table="([^"]+)"', html) == ["routes", *TABLE_KEYS, "exchange_cnn_constant_table",
                                                         "clean_equivalent_cnn_constant"]
    assert "Observations needed for acc &gt; 0.90 (cnn, constant damage), seed style" in html
    assert "Observations needed for auc &gt; 0.98 (cnn, constant damage), interpolated" in html
    assert "report_fixture" in html and "spec.yaml" in html  # the spec
    assert "ValueError: boom" in html and "1 errored, 1 missing" in html  # failures
    assert "2026-01-01T00:00:00+00:00 →" in html  # the time span


def test_tables_written_as_csv_and_markdown(full_report):
    df = pd.read_parquet(full_report.parent / "results.parquet")
    for key in TABLE_KEYS:
        csv, md = (full_report.with_name(f"report_{key}{s}") for s in (".csv", ".md"))
        assert csv.is_file() and md.is_file()
        assert md.read_text().startswith("# Observations needed") and re.search(r"\|\s+quality\s+\|", md.read_text())
    written = pd.read_csv(full_report.with_name("report_seed_acc_cnn_constant.csv"))
    expected = seed_table(df, metric="acc", model="cnn", n_total=60_000)
    np.testing.assert_allclose(written["num_obs"], expected["num_obs"].astype(float))
    assert written["reached"].tolist() == expected["reached"].tolist()
    interpolated = full_report.with_name("report_interpolated_acc_cnn_constant.md").read_text()
    header = interpolated.splitlines()[2]  # the title, a blank line, then the table's header
    for column in ("num_obs", "ci_low", "ci_high", "found", "p_reachable", "curve"):
        assert re.search(rf"\|\s+{column}\s+\|", header), (column, header)


def test_figures_whose_axis_was_not_swept_are_skipped_with_the_reason(tmp_path):
    write_results(synthetic_results(models=("rf", "cnn")), tmp_path)
    html = write_report(tmp_path / "results.parquet", reference=DATA / "talk_size_snippet.csv",
                        n_boot=10).read_text()
    # The default situation holds all of the training set: buying more is beyond the data, no route is priced.
    assert figure_keys(html) == ["size", "confusion"] and "beyond the data" in html
    assert "damage_frac was not swept with random or constant damage" in html
    assert "no model has both sample_frac and damage_frac swept" in html
    assert "no trial damaged labels" in html
    assert "needs two or more quality levels" in html
    assert "the run and the reference share no swept axis" in html  # the talk snippet is one sample_frac
    assert re.findall(r'data-table="([^"]+)"', html) == ["routes", *(f"{k}_{m}_cnn_none" for m in ("acc", "auc")
                                                                     for k in ("seed", "interpolated"))]
    assert (tmp_path / "report.html").is_file()  # default: next to the results file


def test_report_of_a_real_tune_directory_and_of_one_where_everything_is_missing(tmp_path):
    html = write_report(DATA / "ray_experiment", out=tmp_path / "ray.html").read_text()
    assert figure_keys(html) == ["confusion"]
    assert "4 (TERMINATED 2, ERROR 1, RUNNING 0, PENDING 0, MISSING 1)" in html
    assert "ValueError: boom seed 2" in html and "ray_fixture" in html
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "spec.yaml").write_text((DATA / "ray_experiment" / "spec.yaml").read_text())
    html = write_report(empty).read_text()
    assert figure_keys(html) == [] and "MISSING 4" in html and "no finished trials" in html
    assert "unknown (no trial times recorded)" in html and (empty / "report.html").is_file()


def test_png_export(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    out = write_report(tmp_path / "results.parquet", out=tmp_path / "r.html", png=True, n_boot=10,
                       situation={"current": {"n": 3000}})  # less than all: buying labels is a route
    pngs = sorted(p.name for p in tmp_path.glob("r_*.png"))
    assert pngs == ["r_confusion.png", "r_routes_figure.png", "r_size.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in tmp_path.glob("r_*.png"))
    assert out.is_file()


def test_report_command_reads_a_talk_damage_csv_along_damage_frac(tmp_path, capsys):
    """`datavsmath report RUN --reference TALK.csv --reference-frac damage_frac`: the talk's
    damage files use `frac` for the damage fraction; the reference is drawn along damage_frac."""
    run = synthetic_results(models=("rf", "cnn"), sample_fracs=(1.0,), damage_fracs=(0.0, 0.1, 0.2, 0.3),
                            damage_mode="random")
    write_results(run, tmp_path / "run")
    talk = tmp_path / "talk_random_damage.csv"  # the talk's columns: frac, exp_name, acc, auc
    talk.write_text("frac,exp_name,acc,auc\n" + "".join(
        f"{d},{m},{0.88 - 0.3 * d - (0.02 if m == 'rf' else 0):.4f},{0.99 - 0.05 * d:.4f}\n"
        for d in (0.0, 0.1, 0.2, 0.3, 0.5) for m in ("rf", "cnn")))
    out = tmp_path / "with_talk.html"
    code = main(["report", str(tmp_path / "run" / "results.parquet"), "--out", str(out), "--reference", str(talk),
                 "--reference-frac", "damage_frac", "--reference-damage-mode", "random"])
    printed = capsys.readouterr().out
    assert code == 0 and printed.startswith("Now: 60,000 labels") and printed.strip().endswith(f"report: {out}")
    html = out.read_text()
    assert "reference_damage_frac" in figure_keys(html)
    figure = json.loads(re.search(r'Plotly.newPlot\(\s*"fig-reference_damage_frac",\s*(\[.*?\]),\s*\{', html,
                                  re.S).group(1))
    reference = [trace for trace in figure if "reference" in trace.get("name", "") and trace.get("x")]
    assert reference, [trace.get("name") for trace in figure]
    assert {round(float(x), 2) for trace in reference for x in _values(trace["x"])} == {0.0, 0.1, 0.2, 0.3, 0.5}
    seen = render_report(out, screenshot="report-talk-damage-reference.png")
    assert all(f["drawn"] == f["expected"] > 0 for f in seen["figures"]) and seen["errors"] == []


def _values(data) -> list:
    """A trace's x values from the report's JSON: a list, or plotly's typed array {dtype, bdata}."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


@pytest.mark.parametrize("argv, match", [
    (["{absent}"], r"results path does not exist"),
    (["{run}", "--reference", "{bad_csv}"], r"must be a results.csv .* or in the talk's format"),
])
def test_report_command_errors_exit_2(tmp_path, capsys, argv, match):
    write_results(synthetic_results(models=("cnn",)), tmp_path / "run")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b\n1,2\n")
    paths = {"absent": tmp_path / "absent", "run": tmp_path / "run" / "results.parquet", "bad_csv": bad_csv}
    code = main(["report", *(arg.format(**paths) for arg in argv), "--out", str(tmp_path / "x.html")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("datavsmath: error: ") and "Traceback" not in err
    assert re.search(match, err), err


def test_a_live_report_says_how_far_the_sweep_is_and_reloads_the_final_one_does_not(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    live = write_report(tmp_path / "results.parquet", out=tmp_path / "live.html", live=Live(finished=3, total=12),
                        n_boot=10).read_text()
    assert re.search(r"live: 3 of 12 trials finished, updated \d\d:\d\d", live)
    assert '<script src="live_live.js">' in live and "location.reload()" in live and "this page reloads every 30 s" in live
    final = write_report(tmp_path / "results.parquet", out=tmp_path / "final.html", n_boot=10).read_text()
    assert "_live.js" not in final and "location.reload" not in final and "data-live=" not in final and "trials finished, updated" not in final
    assert not list(tmp_path.glob("*.tmp*")), "the atomic write left a temp file"


def test_table_settings_choose_the_model_and_thresholds(tmp_path):
    df = synthetic_results(models=("dnn", "cnn"), damage_fracs=(0.0, 0.1, 0.2))
    settings = TableSettings(model="dnn", thresholds={"acc": 0.8, "auc": 0.97})
    items = {item.key: item for item in table_items(df, settings=settings, n_boot=10, n_total=60_000)}
    assert set(items) == {f"{kind}_{metric}_dnn_constant" for kind in ("seed", "interpolated") for metric in ("acc", "auc")}
    assert "acc > 0.80" in items["seed_acc_dnn_constant"].title and "auc > 0.97" in items["seed_auc_dnn_constant"].title
    expected = seed_table(df, metric="acc", threshold=0.8, model="dnn", damage_mode="constant")
    pd.testing.assert_frame_equal(items["seed_acc_dnn_constant"].table, expected)
    missing = table_items(df, settings=TableSettings(model="rf"), n_boot=10, n_total=60_000)
    assert [item.key for item in missing] == ["tables"] and "rf has no finished trials" in missing[0].note


def test_reduced_settings_are_named_next_to_the_size_figure():
    df = synthetic_results(models=("rf", "cnn"))
    item = size_item(df, overrides={"cnn": {"epochs": 3}, "rf": {"n_estimators": 25}})
    assert item.caption.startswith("Reduced settings: cnn epochs 3 (the talk's 12).")  # rf's 25 is the talk's own
    assert re.search(r"At sample_frac 0.01 this run ranks the models (cnn|rf) \d\.\d\d > (cnn|rf) \d\.\d\d", item.caption)
    assert size_item(df, overrides={}).caption == ""


def test_the_label_damage_figure_is_left_out_when_the_dataset_file_changed_since_the_sweep(tmp_path):
    """The report reads a table's labels again only if they are the data the sweep ran on:
    wine.csv gained a class after the sweep recorded its fingerprint."""
    frame = load_wine(as_frame=True).frame
    frame.to_csv(tmp_path / "wine.csv", index=False)
    config = {"kind": "table", "path": str(tmp_path / "wine.csv"), "label": "target"}
    swept = load_dataset(config)
    df = synthetic_results(models=("rf",), damage_fracs=(0.0, 0.2))
    same = label_damage_item(df, labels=None, info=swept.info, dataset=config, fingerprint=swept.fingerprint)
    assert same.figure is not None, same.note
    pd.concat([frame, frame.tail(3).assign(target=3)]).to_csv(tmp_path / "wine.csv", index=False)
    changed = label_damage_item(df, labels=None, info=swept.info, dataset=config, fingerprint=swept.fingerprint)
    assert changed.figure is None
    assert re.search(r"wine.csv .* is not the one the sweep ran on: fingerprint \w{16}… where the sweep recorded "
                     + swept.fingerprint[:16], changed.note)
