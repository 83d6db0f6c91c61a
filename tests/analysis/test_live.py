"""datavsmath.analysis.live.LiveReport: when it rewrites, what it writes, and that Tune can pickle it."""

from __future__ import annotations

import pickle
import re
import time

from datavsmath.analysis.live import LiveReport
from datavsmath.analysis.page import heartbeat_path, heartbeat_script
from tests.analysis.fixtures import synthetic_results, write_results
from tests.browser import render_report


def test_rewrites_only_when_enough_trials_and_time_passed(tmp_path):
    live = LiveReport(str(tmp_path), every_s=60.0, every_n=5)
    start = live._last_t
    assert not live.due(4, 100, now=start + 120)    # too few trials since the last rewrite
    assert not live.due(10, 100, now=start + 30)    # too soon
    assert live.due(10, 100, now=start + 61)
    assert not live.due(100, 100, now=start + 600)  # the final report follows instead
    default = LiveReport(str(tmp_path), every_s=0.0)
    assert not default.due(9, 100, now=start + 1) and default.due(10, 100, now=start + 1)  # a tenth of the sweep


def test_a_rewrite_writes_a_live_page_in_the_background(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    live = LiveReport(str(tmp_path / "results.parquet"), every_s=0.0, every_n=1)
    live(3, 12)
    live.wait()
    page = (tmp_path / "report.html").read_text()
    assert re.search(r"live: 3 of 12 trials finished, updated \d\d:\d\d", page)
    assert live.rewrites == 1 and live.seconds > 0
    live(3, 12)  # nothing new finished: no rewrite
    live.wait()
    assert live.rewrites == 1


def test_it_pickles_without_its_thread(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    live = LiveReport(str(tmp_path / "results.parquet"), every_s=0.0, every_n=1)
    live(1, 5)
    again = pickle.loads(pickle.dumps(live))
    live.wait()
    assert again._thread is None and again.exp_dir == live.exp_dir


def test_a_live_page_stops_reloading_once_its_drivers_heartbeat_stops(tmp_path):
    """A driver killed mid-sweep leaves a live report.html and a stale heartbeat: the page
    stops reloading and says so, where it used to reload forever."""
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    live = LiveReport(str(tmp_path / "results.parquet"), every_s=0.0, every_n=1)
    live(3, 12)
    live.wait()
    beat = heartbeat_path(tmp_path / "report.html")

    def banner(page):
        return page.eval_on_selector("p.live", "p => [p.dataset.stopped || '', p.textContent]")

    running = render_report(tmp_path / "report.html", screenshot="live-running.png", interact=banner)
    assert beat.is_file() and running["extra"][0] == "" and running["errors"] == [], running
    live.close()
    assert not beat.exists()  # a sweep that ends removes its heartbeat; its final report does not reload
    beat.write_text(heartbeat_script(time.time() - 3600))  # what a driver killed an hour ago leaves
    stopped = render_report(tmp_path / "report.html", screenshot="live-stopped.png", interact=banner)
    assert stopped["extra"][0] == "1" and "the sweep stopped updating this page" in stopped["extra"][1], stopped
