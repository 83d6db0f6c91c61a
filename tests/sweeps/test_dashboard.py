"""The Ray dashboard as the sweep announces it: the login hint it prints (pure function), and
a real sweep whose printed URL and token command get a headless Chromium into its Jobs page."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from datavsmath.sweeps.dashboard import DashboardAuth, dashboard_lines, query_auth
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

URL = "http://127.0.0.1:8265"
# Eight small rf trials: the fit lasts ~20 s on 2 cores (the first two wait ~10 s for Ray's
# workers to start), so the driver outlives the browser's ~6 s login and Jobs page by ~10 s.
SPEC = """name: dashboard_check
model: [rf]
sample_frac: [0.01, 0.02, 0.05, 0.1]
damage_frac: [0.0]
damage_mode: [none]
seeds: [0, 1]
"""
PRINTED_TIMEOUT_S = 45  # ray.init and the data: ~12 s on 2 cores
TOKEN_TIMEOUT_S = 20
BROWSER_TIMEOUT_MS = 20_000
FINISH_TIMEOUT_S = 60
SCREENSHOT = "ray-dashboard-jobs.png"


@pytest.mark.parametrize("auth, ray_cli, expected", [
    (DashboardAuth(mode="disabled"), "ray", [f"Ray dashboard: {URL}"]),
    (DashboardAuth(mode="disabled", token_env=True, token_path="/t"), "ray", [f"Ray dashboard: {URL}"]),
    (DashboardAuth(mode="token"), "ray",
     [f"Ray dashboard: {URL}  (asks for a token: log in with what the command below prints)",
      "Ray token:     ray get-auth-token"]),
    (DashboardAuth(mode="token"), "/my venv/bin/ray",
     [f"Ray dashboard: {URL}  (asks for a token: log in with what the command below prints)",
      "Ray token:     '/my venv/bin/ray' get-auth-token"]),
    (DashboardAuth(mode="token", token_path="/secrets/ray token"), "ray",
     [f"Ray dashboard: {URL}  (asks for a token: log in with what the command below prints)",
      "Ray token:     env RAY_AUTH_TOKEN_PATH='/secrets/ray token' ray get-auth-token"]),
    (DashboardAuth(mode="token", token_env=True, token_path="/ignored"), "ray",
     [f"Ray dashboard: {URL}  (asks for a token: log in with this sweep's $RAY_AUTH_TOKEN)"]),
])
def test_dashboard_lines_name_the_token_command_never_the_token(auth, ray_cli, expected):
    assert dashboard_lines(URL, auth=auth, ray_cli=ray_cli) == expected


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_query_auth_falls_back_to_the_drivers_mode_when_the_dashboard_does_not_answer():
    code = f"from datavsmath.sweeps.dashboard import query_auth; print(query_auth('http://127.0.0.1:{_closed_port()}').mode)"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    for mode in ("token", "disabled"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={**env, "RAY_AUTH_MODE": mode})
        assert out.returncode == 0 and out.stdout.strip() == mode, out.stderr[-2000:]


def _wait_for_printed(log: Path, proc: subprocess.Popen) -> tuple[str, str]:
    """The dashboard URL and the token command, once the sweep printed both."""
    deadline = time.monotonic() + PRINTED_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        text = log.read_text()
        url, command = re.search(r"^Ray dashboard: (\S+)", text, re.M), re.search(r"^Ray token: +(.+)$", text, re.M)
        if url and command:
            return url.group(1), command.group(1)
        time.sleep(0.2)
    raise AssertionError(f"the sweep printed no dashboard URL and token command (exit {proc.poll()}):\n"
                         + log.read_text()[-3000:])


def _log_in(page: Page, url: str, token: str) -> None:
    """Open the dashboard and type the token into its login form, as a person would."""
    page.goto(url, wait_until="load")
    page.get_by_text("Authentication Token Required").wait_for(timeout=BROWSER_TIMEOUT_MS)
    page.get_by_label("Authentication Token", exact=True).fill(token)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Authentication Token Required").wait_for(state="detached", timeout=BROWSER_TIMEOUT_MS)


def _sweep_job_row(page: Page, url: str, *, entrypoint_part: str) -> str:
    """The Jobs page's row of the job whose entrypoint contains `entrypoint_part`."""
    page.goto(f"{url}/#/jobs", wait_until="load")
    row = page.get_by_role("row").filter(has_text=entrypoint_part)
    row.wait_for(timeout=BROWSER_TIMEOUT_MS)
    return row.inner_text()


def _driver_job(page: Page, url: str, *, pid: int) -> dict:
    """The dashboard's job record (through the browser's login cookie) of the driver `pid`."""
    jobs = page.request.get(f"{url}/api/jobs/", timeout=BROWSER_TIMEOUT_MS)
    assert jobs.ok, jobs.status
    matching = [j for j in jobs.json() if str((j.get("driver_info") or {}).get("pid")) == str(pid)]
    assert len(matching) == 1, [j.get("entrypoint") for j in jobs.json()]
    return matching[0]


def _check_dashboard(url: str, token: str, *, spec: Path, pid: int) -> tuple[str, dict]:
    """Log in, find the sweep's job on the Jobs page, screenshot it; (row text, job record)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            _log_in(page, url, token)
            row = _sweep_job_row(page, url, entrypoint_part=str(spec))
            job = _driver_job(page, url, pid=pid)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / SCREENSHOT), full_page=True)
        finally:
            browser.close()
    return row, job


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C a sweep the test gave up on (the CLI stops Ray cleanly), then kill it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow  # a browser on the dashboard; the URL lines are tested without it
def test_the_printed_url_and_token_command_open_the_sweeps_job_in_chromium(tmp_path):
    spec = tmp_path / "dashboard_check.yaml"
    spec.write_text(SPEC)
    log = tmp_path / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "datavsmath.cli", "sweep", str(spec), "--storage",
                                 str(tmp_path / "results"), "--no-report"],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url, command = _wait_for_printed(log, proc)
        got = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=TOKEN_TIMEOUT_S)
        assert got.returncode == 0, got.stderr[-2000:]
        token = got.stdout.strip()
        assert query_auth(url).mode == "token"
        row, job = _check_dashboard(url, token, spec=spec, pid=proc.pid)
        assert proc.poll() is None, "the sweep ended before the browser saw its job"
        assert job["job_id"] in row and "RUNNING" in row, row
        assert proc.wait(timeout=FINISH_TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        _stop(proc)
    # the sweep prints the command, never the token: not in its output, not in the experiment
    assert token not in log.read_text()
    leaked = [p for p in (tmp_path / "results").rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leaked == []
    assert (ARTIFACTS / SCREENSHOT).stat().st_size > 20_000
