"""analysis.report: the self-contained HTML file, its table files, PNGs and the CLI hooks."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.report import add_report_arguments, run_report_command, write_report
from analysis.tables import seed_table
from tests.test_analysis_fixtures import DATA, build_full_report, synthetic_results, write_results

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
    assert figure_keys(html) == ["size", "damage", "labels", "cross_cnn_constant", "economics_cnn_constant",
                                 "reference_sample_frac", "reference_damage_frac", "confusion"]
    assert re.findall(r'data-table="([^"]+)"', html) == TABLE_KEYS
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
    expected = seed_table(df, metric="acc")
    np.testing.assert_allclose(written["num_obs"], expected["num_obs"].astype(float))
    assert written["reached"].tolist() == expected["reached"].tolist()


def test_figures_whose_axis_was_not_swept_are_skipped_with_the_reason(tmp_path):
    write_results(synthetic_results(models=("rf", "cnn")), tmp_path)
    html = write_report(tmp_path / "results.parquet", reference=DATA / "talk_size_snippet.csv",
                        n_boot=10).read_text()
    assert figure_keys(html) == ["size", "confusion"]
    assert "damage_frac was not swept with random or constant damage" in html
    assert "no model has both sample_frac and damage_frac swept" in html
    assert "no trial damaged labels" in html
    assert "needs two or more quality levels" in html
    assert "the run and the reference share no swept axis" in html  # the talk snippet is one sample_frac
    assert re.findall(r'data-table="([^"]+)"', html) == [f"{k}_{m}_cnn_none" for m in ("acc", "auc")
                                                         for k in ("seed", "interpolated")]
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
    out = write_report(tmp_path / "results.parquet", out=tmp_path / "r.html", png=True, n_boot=10)
    pngs = sorted(p.name for p in tmp_path.glob("r_*.png"))
    assert pngs == ["r_confusion.png", "r_size.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in tmp_path.glob("r_*.png"))
    assert out.is_file()


def test_cli_hooks(tmp_path, capsys):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    parser = add_report_arguments(argparse.ArgumentParser(prog="datavsmath report"))
    args = parser.parse_args([str(tmp_path / "results.parquet"), "--out", str(tmp_path / "x.html"),
                              "--reference", str(DATA / "talk_size_snippet.csv")])
    assert run_report_command(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "x.html")
    assert run_report_command(parser.parse_args([str(tmp_path / "absent")])) == 2
    assert "results path does not exist" in capsys.readouterr().err
