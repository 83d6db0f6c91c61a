"""datavsmath.analysis.situation, routes and answer: hand-built grids on which each route is the
cheapest by construction, the situation's defaults, honest intervals and "beyond the data"."""

from __future__ import annotations

import html
import math

import pandas as pd
import pytest
import yaml

from datavsmath.analysis.answer import answer
from datavsmath.analysis.coinciding_modes import reference_caption
from datavsmath.analysis.report import write_report
from datavsmath.analysis.schema import normalize
from datavsmath.analysis.situation import training_size
from datavsmath.cli import main
from datavsmath.sweeps.spec import SpecError
from datavsmath.sweeps.validation import parse_spec
from tests.analysis.fixtures import write_results

DECADES = (0.01, 0.1, 1.0)
N = 10_000


def grid(curves: dict[tuple[str, float], tuple[float, float, float]], *, seeds=(0, 1, 2), n_total: int = N,
         repair: dict[float, tuple[float, float, float]] | None = None, spread: float = 0.002,
         mode: str = "constant") -> pd.DataFrame:
    """Finished trials: {(model, damage_frac): acc at DECADES}; repair: prune's accs of the first model."""
    rows = []
    for (model, damage), accs in curves.items():
        for s, acc in zip(DECADES, accs):
            for i, seed in enumerate(seeds):
                rows.append(dict(status="TERMINATED", model=model, sample_frac=s, damage_frac=damage,
                                 damage_mode=mode if damage else "none", repair="none", seed=seed,
                                 n_train=math.floor(s * n_total), n_val=0,
                                 acc=acc + spread * (i - (len(seeds) - 1) / 2), auc=0.99))
    for s, acc in zip(DECADES, (repair or {}).get(0.2, ())):
        for seed in seeds:
            rows.append(dict(status="TERMINATED", model="rf", sample_frac=s, damage_frac=0.2, damage_mode=mode,
                             repair="prune", seed=seed, n_train=math.floor(s * n_total), n_val=0, acc=acc, auc=0.99,
                             repair_seconds=0.0))
    return normalize(pd.DataFrame(rows))


BASE = {("rf", 0.0): (0.80, 0.86, 0.92), ("rf", 0.2): (0.74, 0.78, 0.82)}
AT_Q08 = {"model": "rf", "n": 100, "quality": 0.8}


def cheapest(result) -> str:
    return result.frame.loc[0, "route"]


def test_bigger_data_wins_when_audits_are_dear():
    result = answer(grid(BASE), current=AT_Q08, target={"acc": 0.76}, prices={"audit": 50}, n_boot=20,
                    curve="loglinear")
    assert cheapest(result) == "buy labels"
    row = result.routes.set_index("route").loc["buy labels"]
    assert row["n_bought"] == pytest.approx(100 * math.sqrt(10) - 100)  # 0.74 -> 0.78 is a decade: half of it
    assert "To reach acc 0.760: buy 216 more labels" in "\n".join(result.lines)


def test_better_data_wins_when_audits_are_cheap_and_repair_when_it_is_free():
    audited = answer(grid(BASE), current=AT_Q08, target={"acc": 0.78}, n_boot=20, curve="loglinear")
    assert cheapest(audited) == "audit labels"
    row = audited.routes.set_index("route").loc["audit labels"]
    assert row["n_audited"] == pytest.approx(100) and row["cost"] == pytest.approx(20)  # audit all 100 at 0.2
    repaired = answer(grid(BASE, repair={0.2: (0.79, 0.83, 0.87)}), current=AT_Q08, target={"acc": 0.78},
                      n_boot=20, curve="loglinear")
    assert cheapest(repaired) == "repair: prune" and repaired.frame.loc[0, "cost"] == 0


def test_better_math_wins_when_another_model_reaches_the_target_at_the_current_set():
    curves = {**BASE, ("logreg", 0.0): (0.85, 0.90, 0.95), ("logreg", 0.2): (0.79, 0.83, 0.87)}
    result = answer(grid(curves), current=AT_Q08, target={"acc": 0.78}, n_boot=20, curve="loglinear")
    assert cheapest(result) == "switch to logreg" and result.frame.loc[0, "cost"] == 0
    assert result.frame.loc[0, "runner_up"] == "audit labels"
    priced = answer(grid(curves), current=AT_Q08, target={"acc": 0.78}, prices={"train": {"logreg": 500}},
                    n_boot=20, curve="loglinear")
    assert cheapest(priced) == "audit labels"  # a dear training loses to a cheap audit


def test_a_route_past_four_times_the_data_is_beyond_the_data():
    result = answer(grid(BASE), current={"model": "rf", "n": N, "quality": 0.8}, target={"acc": 0.86}, n_boot=20,
                    curve="power_law")
    buy = result.routes.set_index("route").loc["buy labels"]
    assert buy["status"] in ("beyond the data", "not reached") and math.isinf(buy["cost"])
    assert cheapest(result) == "audit labels"
    text = "\n".join(result.lines)
    assert all(len(token.replace(",", "")) < 9 for token in text.split() if token.replace(",", "").isdigit())


def test_no_route_states_more_labels_than_the_dataset_holds():
    # acc 0.83 at quality 0.8 lies just past the largest swept size: within 4x of it, past the dataset's N.
    result = answer(grid(BASE), current=AT_Q08, target={"acc": 0.83}, n_boot=20, curve="loglinear")
    routes = result.routes.set_index("route")
    assert routes.loc["buy labels", "status"] == "beyond the data" and routes.loc["buy labels", "bound"] == N
    priced = result.routes[result.routes["status"] == "priced"]
    assert (priced["n_final"] <= N).all()
    text = "\n".join(result.lines)
    assert f"beyond the data (more than the dataset's {N:,} training rows)" in text  # the bound that applies
    assert routes.loc["buy labels", "bound_by"] == "the dataset's training rows"
    counts = [int(t.strip(".;()")) for t in text.replace(",", "").split() if t.strip(".;()").isdigit()]
    assert all(count <= N for count in counts)


def test_current_defaults_and_explicit_values_are_said():
    df = grid({**BASE, ("logreg", 0.0): (0.70, 0.80, 0.85)})
    default = answer(df, n_boot=5)
    situation = default.situation
    assert (situation.model, situation.n, situation.quality) == ("rf", N, 1.0)  # the best at the largest size
    assert set(situation.defaults) == {"model", "n", "quality", "target", "prices"}
    assert "Not stated, so the answer assumed: model rf" in default.lines[1]
    explicit = answer(df, current=AT_Q08, target={"acc": [0.8, 0.79]}, prices={"label": 2}, n_boot=5)
    assert explicit.situation.defaults == () and explicit.situation.targets == {"acc": (0.79, 0.8)}
    assert explicit.lines[0].startswith("Now: 100 labels at quality 0.8 (constant damage), rf, acc 0.7")
    with pytest.raises(ValueError, match="current: unknown key 'size'"):
        answer(df, current={"size": 3})
    with pytest.raises(ValueError, match=r"target.acc must be in \(0, 1\), got 1.2"):
        answer(df, target={"acc": 1.2})
    with pytest.raises(ValueError, match=r"prices.label must be in \(0, 1000000000000\], got 0"):
        answer(df, prices={"label": 0})


def test_a_426_row_table_never_mentions_60000(tmp_path):
    df = grid(BASE, n_total=426)
    assert training_size(df) == 426
    result = answer(df, current={"model": "rf", "n": 100, "quality": 0.8}, n_boot=5)
    text = "\n".join(result.lines) + result.routes.to_string()
    assert "60,000" not in text and "60000" not in text
    write_results(df, tmp_path)
    html = write_report(tmp_path / "results.parquet", n_boot=5).read_text()
    assert "60,000" not in html and "share of 426 obs" in html


@pytest.mark.parametrize("seeds,interval", [((0, 1), False), ((0, 1, 2), True)])
def test_intervals_need_three_seeds_for_the_current_value_and_enough_points_for_a_route(seeds, interval):
    """The current value's interval is a bootstrap over seeds (3 or more); a route's comes from
    its crossings (curves.estimate_crossing): a pow3 interval from 3 + 5 points, here 3 sizes
    x 3 seeds, none from 3 x 2."""
    result = answer(grid(BASE, seeds=seeds), current=AT_Q08, target={"acc": 0.78}, n_boot=30, curve="pow3")
    text = "\n".join(result.lines)
    assert ("2 seeds: no interval" in text) is not interval
    assert ("[" in result.lines[0]) is interval and bool(result.routes["ci_low"].notna().any()) is interval
    assert ("(no interval)" in text) is not interval


def test_two_classes_collapse_the_damage_modes_into_one_block(tmp_path):
    frames = [grid(BASE, mode=mode) for mode in ("random", "constant", "confusion")]
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["model", "sample_frac", "damage_frac", "damage_mode",
                                                               "seed"])
    df["confusion"] = [[[40, 10], [5, 45]]] * len(df)
    write_results(normalize(df), tmp_path)
    html = write_report(tmp_path / "results.parquet", n_boot=5).read_text()
    assert "With 2 classes, random, constant, confusion damage all flip" in html
    assert 'data-figure="cross_rf_random"' in html
    assert "cross_rf_constant" not in html and "cross_rf_confusion" not in html


def test_report_flags_state_the_situation_and_print_the_answer(tmp_path, capsys):
    write_results(grid(BASE), tmp_path)
    results = str(tmp_path / "results.parquet")
    assert main(["report", results, "--current", "model=rf,n=100,quality=0.8", "--target", "acc=0.76",
                 "--prices", "audit=50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Now: 100 labels at quality 0.8 (constant damage), rf")
    sentence = next(line for line in out.splitlines() if line.startswith("To reach acc 0.760: buy "))
    assert out.count(sentence) == 1 and "report: " in out
    assert html.escape(sentence) in (tmp_path / "report.html").read_text()  # the same lines head the report
    assert main(["report", results, "--target", "acc"]) == 2
    assert "--target must be key=value pairs" in capsys.readouterr().err
    assert main(["report", results, "--prices", "label=0"]) == 2
    assert r"prices.label must be in (0, 1000000000000], got 0" in capsys.readouterr().err


SPEC = {"model": ["rf", "xgb"], "sample_frac": [0.01, 0.1, 1.0], "damage_frac": [0.0, 0.2],
        "damage_mode": ["constant"], "seeds": [0, 1, 2]}


def test_the_spec_states_the_situation_and_the_old_price_keys_still_load():
    report = {"current": {"model": "rf", "n": 100, "quality": 0.8}, "target": {"acc": [0.8, 0.76]},
              "prices": {"audit": 50, "train": {"xgb": 3}}, "price_label": 2.0}
    spec = parse_spec({**SPEC, "report": report})
    assert spec.report["target"] == {"acc": [0.76, 0.8]} and spec.report["prices"]["train"] == {"xgb": 3}
    assert parse_spec({**SPEC, "report": {"price_label": 2.0, "price_audit": 0.5}}).report == \
        {"price_label": 2.0, "price_audit": 0.5}


@pytest.mark.parametrize("report,match", [
    ({"current": {"model": "cnn"}}, r"report.current.model must be one of \['rf', 'xgb'\], got 'cnn'"),
    ({"current": {"n": 0}}, r"report.current.n must be in \(0, inf\), got 0"),
    ({"current": {"size": 3}}, r"report.current: unknown key 'size'"),
    ({"target": {"f1": 0.9}}, r"report.target must be one of \['acc', 'auc'\], got 'f1'"),
    ({"target": {"acc": [0.9, 1.0]}}, r"report.target.acc must be in \(0, 1\), got 1"),
    ({"prices": {"audit": -1}}, r"report.prices.audit must be in \[0, 1000000000000\], got -1"),
    ({"prices": {"train": {"cnn": 1}}}, r"report.prices.train must be one of \['rf', 'xgb'\], got 'cnn'"),
    ({"budget": 3}, r"report: unknown key 'budget'"),
])
def test_a_bad_situation_in_the_spec_is_refused(report, match):
    with pytest.raises(SpecError, match=match):
        parse_spec({**SPEC, "report": report})


def test_the_report_answers_for_the_specs_situation(tmp_path):
    write_results(grid(BASE), tmp_path)
    spec = {**SPEC, "model": ["rf"], "report": {"current": AT_Q08, "target": {"acc": 0.76}, "prices": {"audit": 50}}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    text = write_report(tmp_path / "results.parquet", n_boot=5).read_text()
    assert "Now: 100 labels at quality 0.8 (constant damage), rf" in text and "To reach acc 0.760: buy" in text


def test_the_confusion_reference_is_captioned_and_a_degenerate_one_warned_about():
    spread = {"counts": [[90, 6, 4], [3, 95, 2], [5, 5, 90]], "model": "rf", "folds": 5, "accuracy": 0.9167}
    caption = reference_caption(spread)
    assert caption.startswith("Confusion reference: rf on 300 clean rows (5-fold, out of fold): accuracy 0.917, "
                              "25 confusions.") and "degenerate" not in caption
    one_each = {**spread, "counts": [[98, 2, 0], [0, 99, 1], [3, 0, 97]], "accuracy": 0.98}
    assert "Warning: degenerate reference" in reference_caption(one_each)
    assert reference_caption(None) == ""
