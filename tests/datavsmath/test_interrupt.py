"""An interrupt (the kernel's stop button is a SIGINT) during datavsmath.sweep: the trials
stop, KeyboardInterrupt is raised with the resume command, the process is as it was, and
the command line resumes the experiment to the end."""

from __future__ import annotations

import glob
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

import datavsmath as dvm
from datavsmath.analysis.load import load_results
from tests.conftest import run_cli
from tests.datavsmath.conftest_helpers import ProcessState

SAMPLE_FRACS = [round(0.2 + 0.04 * i, 2) for i in range(20)]
# Trials of ~0.3 s: with the default forest (0.0 s each on these 569 rows) and prestarted
# workers, all 40 can finish before the first result file is seen and the SIGINT lands.
SLOW_RF = {"rf": {"n_estimators": 300}}
WAIT_S = 120.0


def _interrupt_after_first_trial(exp_dir: Path, stop: threading.Event) -> None:
    """SIGINT to this process once a trial of `exp_dir` has reported (Tune runs by then)."""
    deadline = time.monotonic() + WAIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        if any(p.stat().st_size for p in exp_dir.glob("*/result.json")):
            os.kill(os.getpid(), signal.SIGINT)
            return
        time.sleep(0.05)


def test_interrupt_reraises_and_the_cli_resumes(tmp_path, capfd):
    df = load_breast_cancer(as_frame=True).frame
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_after_first_trial, args=(tmp_path / "stopped", stop), daemon=True)
    before = ProcessState.now()
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt, match=r"continue it with resume=True, or: ") as info:
            dvm.sweep(df, label="target", models=["rf"], sample_frac=SAMPLE_FRACS, seeds=2, storage=str(tmp_path),
                      name="stopped", live=False, report=False, verbose=0, overrides=SLOW_RF)
    finally:
        stop.set()
        watcher.join()
        dvm.shutdown()
    assert before.problems() == []
    said = capfd.readouterr()
    # our one resume line (the exception's) only: not Tune's Tuner.restore advice, its list of
    # the trials that had not reported ("Failed to fetch metrics for 17 trial(s): ..."), nor
    # its "Stop signal received ... Press CTRL+C to skip"
    for tunes in ("Tuner.restore", "Failed to fetch metrics", "Stop signal received"):
        assert tunes not in said.out + said.err, said
    statuses = load_results(tmp_path / "stopped")["status"]
    assert 0 < (statuses == "TERMINATED").sum() < len(statuses) == 2 * len(SAMPLE_FRACS)
    command = shlex.split(str(info.value).split("or: ", 1)[1])
    assert command[0] == "datavsmath" and "--resume" in command
    resumed = run_cli(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert (load_results(tmp_path / "stopped")["status"] == "TERMINATED").all()


# A notebook's interrupt (jupyter_client signals the kernel's whole process group) and a
# terminal's Ctrl-C reach Ray's dashboard too, when they land while ray.init starts it.
GROUP_INTERRUPTED = """
import sys
import datavsmath as dvm
from sklearn.datasets import load_breast_cancer

frame = load_breast_cancer(as_frame=True).frame
dvm.sweep(frame, label="target", models=["rf"], sample_frac=[0.5], seeds=1, storage=sys.argv[1], name="started",
          live=False, report=False)
"""


def _session_processes(leader: int) -> list[int]:
    """The processes left in the session of `leader` (started with start_new_session)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == leader:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@contextmanager
def _script(source: str, tmp_path: Path, *args: str, **env: str) -> Iterator[subprocess.Popen]:
    """`source` run as a script in a session of its own (as a kernel or a terminal runs a
    program); whatever is left of that session is killed after the block."""
    script = tmp_path / "script.py"
    script.write_text(source)
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)


def _wait_for(found: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not found():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def test_an_interrupt_of_the_process_group_while_ray_starts_is_a_keyboard_interrupt(tmp_path):
    """ray.init failed with a bare Exception and 20 lines of the dashboard's log: the same
    signal had stopped the dashboard it was starting."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="dvm-int-", dir="/tmp"))  # short: Ray's socket paths
    with _script(GROUP_INTERRUPTED, tmp_path, str(tmp_path / "store"), RAY_TMPDIR=str(ray_tmp)) as proc:
        _wait_for(lambda: bool(glob.glob(str(ray_tmp / "ray" / "session_*" / "logs" / "dashboard.log"))), proc,
                  "the dashboard start")
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err[-3000:]
    assert "dashboard" not in err.lower() and "Exception" not in err, err[-3000:]
    assert not (tmp_path / "store" / "started" / "tuner.pkl").exists()


TWICE_INTERRUPTED = """
import sys
import datavsmath as dvm
from sklearn.datasets import load_breast_cancer

frame = load_breast_cancer(as_frame=True).frame
try:
    dvm.sweep(frame, label="target", models=["rf"], sample_frac=[round(0.2 + 0.04 * i, 2) for i in range(20)],
              seeds=2, storage=sys.argv[1], name="twice", live=False, report=False, verbose=0,
              overrides={"rf": {"n_estimators": 300}})
except KeyboardInterrupt as exc:
    print(f"interrupted: {exc}", file=sys.stderr)
    sys.exit(130)
"""


SECOND_AFTER_S = 0.7  # as a user's second Ctrl-C came


def test_a_second_interrupt_soon_after_the_first_still_gives_the_resume_hint(tmp_path):
    """A second Ctrl-C 0.7 s after the first raised a bare KeyboardInterrupt from inside pandas
    (the result files being written), with no word on how to resume."""
    with _script(TWICE_INTERRUPTED, tmp_path, str(tmp_path)) as proc:
        _wait_for(lambda: any(p.stat().st_size for p in (tmp_path / "twice").glob("*/result.json")), proc,
                  "a trial's result")
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(SECOND_AFTER_S)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted: sweep 'twice' interrupted; continue it with resume=True, or: datavsmath sweep" in err, \
        err[-3000:]
    # the sweep's own words reach the caller whole (what the interpreter's exit prints after the
    # script has ended, when the second signal lands there, is not the sweep's)
    assert "Traceback" not in err.split("interrupted: sweep")[0], err[-3000:]
