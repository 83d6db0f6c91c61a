"""Interruption, resume and trial faults through the real CLI and real Ray Tune; no input
hangs (an unreachable --address) and no signal leaves Ray's processes behind.

The sweeps here are small but not instant, so that a kill lands while some trials have
finished and others have not. Each interrupted sweep gets its own Ray temp folder
(RAY_TMPDIR) and session, so the processes it started can be found afterwards.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from datavsmath.sweeps.experiment_layout import LOCK_FILE
from datavsmath.sweeps.spec import AXES, expand_trials
from datavsmath.sweeps.validation import load_spec

CLI = [sys.executable, "-m", "datavsmath.cli"]
# 10 trials of a few seconds each: rf on growing subsets, and dnn with 3 epochs.
RESUME_SPEC = """\
name: resumable
grids:
  - model: [rf]
    sample_frac: [0.02, 0.03, 0.04, 0.05, 0.06]
    damage_frac: [0.0]
    damage_mode: [none]
  - model: [dnn]
    sample_frac: [0.05, 0.1, 0.15, 0.2, 0.25]
    damage_frac: [0.0]
    damage_mode: [none]
overrides:
  dnn: {epochs: 3}
"""
FAULT_SPEC = """\
name: faulty
checkpoint_period_s: 0
grids:
  - model: [cnn]
    sample_frac: [0.02]
    damage_frac: [0.0]
    damage_mode: [none]
  - model: [rf, xgb]
    sample_frac: [0.01, 0.02]
    damage_frac: [0.3]
    damage_mode: [random]
overrides:
  cnn: {epochs: 4}
  xgb: {num_boost_round: 20}
"""


# Six rf trials of a few seconds: interrupted after the first.
QUICK_SPEC = """\
name: quick
model: [rf]
sample_frac: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
damage_frac: [0.0]
damage_mode: [none]
"""
LEFTOVER_WAIT_S = 10  # Ray's processes are gone this soon after the driver (measured: 0-2 s)
ADDRESS_BUDGET_S = 30  # an address that cannot be reached fails within this, start-up included


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A Ray temp folder of the sweep's own, short: Ray's socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="dvm-ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sweep_processes(leader: int, ray_tmp: Path) -> dict[int, str]:
    """pid -> command of every process the sweep started: in the session of its driver
    (started with start_new_session) or with a file open in its Ray temp folder."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            ours = os.getsid(int(proc.name)) == leader or any(
                os.readlink(fd).startswith(str(ray_tmp)) for fd in (proc / "fd").iterdir())
            if ours:
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _assert_nothing_left(leader: int, ray_tmp: Path) -> None:
    deadline = time.time() + LEFTOVER_WAIT_S
    while (left := _sweep_processes(leader, ray_tmp)) and time.time() < deadline:
        time.sleep(0.2)
    for pid in left:  # do not let a failure here leak processes into the rest of the suite
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"processes of the sweep outlived its driver by {LEFTOVER_WAIT_S} s: {left}"


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env or _env())


def _terminated_in_state(exp: Path) -> set[str]:
    """Trial ids that Tune's saved experiment state records as TERMINATED."""
    done = set()
    for path in glob.glob(str(exp / "experiment_state-*.json")):
        try:
            state = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, OSError):
            continue  # being rewritten right now
        for trial_json, _ in state.get("trial_data", []):
            trial = json.loads(trial_json)
            if trial.get("status") == "TERMINATED":
                done.add(trial["trial_id"])
    return done


def _finished_trials(exp: Path) -> dict[str, tuple[str, int]]:
    """trial_id -> (last result line, number of result lines) for trials with a final result."""
    out = {}
    for result in exp.glob("*/result.json"):
        lines = result.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("done") and "acc" in json.loads(lines[-1]):
            last = json.loads(lines[-1])
            out[last["trial_id"]] = (lines[-1], len(lines))
    return out


def _start_and_interrupt(spec_path: Path, storage: Path, *, sig: int, min_done: int, ray_tmp: Path,
                         name: str = "resumable") -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([*CLI, "sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(RAY_TMPDIR=str(ray_tmp)),
                            start_new_session=True)
    exp = storage / name
    deadline = time.time() + 240
    while len(_terminated_in_state(exp)) < min_done:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "sweep made no progress"
        time.sleep(0.5)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    return proc, out, err


def _assert_complete(exp: Path, spec_path: Path) -> pd.DataFrame:
    df = pd.read_parquet(exp / "results.parquet")
    expected = {tuple(t[a] for a in AXES) for t in expand_trials(load_spec(spec_path))}
    got = list(df[list(AXES)].itertuples(index=False, name=None))
    assert len(got) == len(expected) and set(got) == expected  # exactly one row each
    assert (df["status"] == "TERMINATED").all(), df[["model", "sample_frac", "status", "error"]]
    return df


ONE_TRIAL_SPEC = """\
name: one
model: [rf]
sample_frac: [0.01]
damage_frac: [0.0]
damage_mode: [none]
overrides:
  rf: {n_estimators: 1}
"""


def test_a_finished_sweep_exits_at_once_and_leaves_no_ray_process(tmp_path, ray_tmp):
    """The console command ends without Ray's graceful shutdown (datavsmath.cli.exit_without_teardown):
    everything is written before, and the reaper and the kernel stop Ray's processes after."""
    spec_path = tmp_path / "one.yaml"
    spec_path.write_text(ONE_TRIAL_SPEC)
    proc = subprocess.Popen([*CLI, "sweep", str(spec_path), "--storage", str(tmp_path), "--no-dashboard"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(RAY_TMPDIR=str(ray_tmp)), start_new_session=True)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    assert out.splitlines()[-1].startswith("makespan "), out[-2000:]  # the last line: flushed before the exit
    _assert_nothing_left(proc.pid, ray_tmp)
    exp = tmp_path / "one"
    assert not (exp / LOCK_FILE).exists()
    assert (pd.read_parquet(exp / "results.parquet")["status"] == "TERMINATED").all()
    assert (exp / "report.html").stat().st_size > 0


@pytest.mark.slow  # kill and resume: tests/datavsmath/test_interrupt.py covers an interrupt and its resume in make test
def test_sigkill_then_resume_keeps_finished_trials(tmp_path, ray_tmp):
    spec_path = tmp_path / "resumable.yaml"
    spec_path.write_text(RESUME_SPEC)
    proc, _, _ = _start_and_interrupt(spec_path, tmp_path, sig=signal.SIGKILL, min_done=3, ray_tmp=ray_tmp)
    _assert_nothing_left(proc.pid, ray_tmp)  # the reaper: Ray's agents would wait 60 s on the dead GCS
    exp = tmp_path / "resumable"
    assert json.loads((exp / LOCK_FILE).read_text())["pid"] == proc.pid  # the killed driver's lock stays
    before = {tid: v for tid, v in _finished_trials(exp).items() if tid in _terminated_in_state(exp)}
    assert len(before) >= 3
    resumed = _cli("sweep", str(spec_path), "--storage", str(tmp_path), "--resume", "--no-dashboard", "--no-report")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"took over the lock of {exp} from the sweep driver pid {proc.pid} on host " in resumed.stdout
    assert not (exp / LOCK_FILE).exists()
    df = _assert_complete(exp, spec_path)
    after = _finished_trials(exp)
    for tid, (last_line, n_lines) in before.items():
        assert after[tid] == (last_line, n_lines), f"finished trial {tid} was rerun"
    assert set(before) <= set(df["trial_id"])


def _printed_resume_command(err: str) -> list[str]:
    """The resume command the driver printed, split as a POSIX shell splits it."""
    lines = err.splitlines()
    assert "Interrupted. Resume with:" in lines, err[-3000:]
    return shlex.split(lines[lines.index("Interrupted. Resume with:") + 1])


@pytest.mark.slow  # Ctrl-C from the command line; in make test: tests/datavsmath/test_interrupt.py (Ctrl-C, then the printed CLI command resumes) and the start-up signal cases below
def test_sigint_stops_cleanly_and_prints_the_resume_command(tmp_path, ray_tmp):
    """Ctrl-C: exit 130, no Ray process left, and the printed command, quoted for a
    storage path and a spec path with spaces, resumes the sweep when the shell splits it."""
    storage = tmp_path / "my results"
    spec_path = tmp_path / "resumable spec.yaml"
    spec_path.write_text(RESUME_SPEC)
    proc, out, err = _start_and_interrupt(spec_path, storage, sig=signal.SIGINT, min_done=2, ray_tmp=ray_tmp)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    _assert_nothing_left(proc.pid, ray_tmp)
    assert "Traceback" not in err
    argv = _printed_resume_command(err)
    assert argv == ["datavsmath", "sweep", str(spec_path), "--name", "resumable", "--storage", str(storage), "--resume"]
    exp = storage / "resumable"
    status = _cli("status", str(exp), timeout=60)  # a partly finished experiment
    assert status.returncode == 0, status.stderr
    assert re.search(r"trials: 10 \| ([2-9]) done, \d+ running, (\d+) pending, 0 errored", status.stdout), status.stdout
    assert "ETA: " in status.stdout and "finished" not in status.stdout.split("ETA: ")[1]
    before = _finished_trials(exp)
    resumed = _cli(*argv[1:], "--no-dashboard", "--no-report")  # the printed command, as the shell runs it
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_complete(exp, spec_path)
    after = _finished_trials(exp)
    assert all(after[tid] == v for tid, v in before.items() if tid in _terminated_in_state(exp))


def _epochs_reported(exp: Path, model: str) -> list[int]:
    for params in exp.glob("*/params.json"):
        if json.loads(params.read_text())["model"] == model:
            rows = [json.loads(line) for line in (params.parent / "result.json").read_text().splitlines()]
            return [r["epoch"] for r in rows if "epoch" in r]
    raise AssertionError(f"no {model} trial in {exp}")


@pytest.fixture(scope="module")
def fault_once(tmp_path_factory):
    """The faulty spec with the cnn failing once, after its epoch-2 checkpoint; Tune's own
    output on (-v 2)."""
    storage = tmp_path_factory.mktemp("fault_once")
    spec_path = storage / "faulty.yaml"
    spec_path.write_text(FAULT_SPEC)
    proc = _cli("sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--no-report", "-v", "2",
                env=_env(DATAVSMATH_FAULT="model=cnn,epoch=2"))
    return storage / "faulty", spec_path, proc


@pytest.fixture(scope="module")
def fault_always(tmp_path_factory):
    """The same spec with one rf trial failing on every attempt."""
    storage = tmp_path_factory.mktemp("fault_always")
    spec_path = storage / "faulty.yaml"
    spec_path.write_text(FAULT_SPEC)
    proc = _cli("sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--max-failures", "1",
                env=_env(DATAVSMATH_FAULT="model=rf,sample_frac=0.02,epoch=0,always"))
    return storage / "faulty", spec_path, proc


@pytest.mark.slow  # in make test: tests/e2e/test_own_data.py's torch network, faulted after its epoch-2 checkpoint, goes on from epoch 3
def test_injected_fault_resumes_from_the_last_epoch_checkpoint(fault_once):
    exp, spec_path, proc = fault_once
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (next(exp.glob("*/fault_injected"))).is_file(), "the fault never fired"
    # epochs 1, 2 before the fault, then 3, 4 after the retry: never epoch 1 again
    assert _epochs_reported(exp, "cnn") == [1, 2, 3, 4]
    _assert_complete(exp, spec_path)


@pytest.mark.slow  # shares the faulted sweep above
def test_verbose_2_shows_tunes_table_with_the_axes_as_columns(fault_once):
    _, _, proc = fault_once
    header = re.search(r"^\| Trial name +\| status +\| loc +\|(.*)$", proc.stdout, re.MULTILINE)
    assert header, proc.stdout[-3000:]
    columns = [c.strip() for c in header.group(1).split("|") if c.strip()]
    assert columns[:6] == list(AXES), columns
    assert re.search(r"^\| cnn_s0.02_d0_none_seed0 +\| TERMINATED", proc.stdout, re.MULTILINE), proc.stdout[-3000:]
    assert "ERROR model=cnn sample_frac=0.02 damage_frac=0 damage_mode=none seed=0: failed, retrying" in proc.stdout
    assert not re.search(r"^\[\s*\d+/\d+\] ", proc.stdout, re.MULTILINE)  # no compact lines at -v 2


def test_a_trial_that_always_fails_ends_errored_and_the_rest_finish(fault_always):
    exp, _, proc = fault_always
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 trial(s) errored" in proc.stderr and "--retry-errored" in proc.stderr
    # the terminal names the trial's combination and its exception, on each failure
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERROR ")]
    combination = "model=rf sample_frac=0.02 damage_frac=0.3 damage_mode=random seed=0"
    assert errors[0].startswith(f"ERROR {combination}: failed, retrying; ") and "injected fault" in errors[0], errors
    assert errors[-1].startswith(f"ERROR {combination}: errored; ") and "error.txt" in errors[-1], errors
    assert len(errors) == 2, errors  # --max-failures 1: one retry, then errored
    df = pd.read_parquet(exp / "results.parquet")
    bad = df[(df["model"] == "rf") & (df["sample_frac"] == 0.02)]
    assert bad["status"].tolist() == ["ERROR"]
    assert "injected fault" in bad["error"].iloc[0]
    assert (df.drop(bad.index)["status"] == "TERMINATED").all()
    assert len(df) == 5
    assert "ERROR" in pd.read_csv(exp / "results.csv")["status"].tolist()
    report = (exp / "report.html").read_text()
    assert "injected fault" in report


@pytest.mark.slow  # shares the faulted sweep above
def test_determinism_same_spec_twice_gives_identical_tree_metrics(fault_once, fault_always):
    """Two runs of one spec: identical subsets and damaged labels, identical rf/xgb metrics."""
    frames = []
    for exp, _, _ in (fault_once, fault_always):
        df = pd.read_parquet(exp / "results.parquet")
        trees = df[df["model"].isin(["rf", "xgb"]) & (df["status"] == "TERMINATED")]
        frames.append(trees.set_index(["model", "sample_frac"]).sort_index())
    common = frames[0].index.intersection(frames[1].index)
    assert len(common) == 3  # rf 0.01, xgb 0.01, xgb 0.02 (rf 0.02 failed on purpose in one run)
    for col in ("acc", "auc", "n_train", "n_damaged"):
        assert frames[0].loc[common, col].tolist() == frames[1].loc[common, col].tolist(), col


@pytest.mark.slow  # the Ctrl-C path of test_sigint_...; SIGTERM's own start-up cases stay in make test
def test_sigterm_stops_like_ctrl_c(tmp_path, ray_tmp):
    """SIGTERM: Tune stops cleanly as on Ctrl-C (no abort, exit 130), the lock and Ray's
    processes go, and the experiment is left resumable with the command to do it."""
    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK_SPEC)
    proc, out, err = _start_and_interrupt(spec_path, tmp_path, sig=signal.SIGTERM, min_done=1, ray_tmp=ray_tmp,
                                          name="quick")
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "Traceback" not in err and "SIGTERM received" not in err
    _assert_nothing_left(proc.pid, ray_tmp)
    exp = tmp_path / "quick"
    assert not (exp / LOCK_FILE).exists()
    assert (exp / "tuner.pkl").is_file() and (exp / "spec.yaml").is_file()
    assert _printed_resume_command(err) == ["datavsmath", "sweep", str(spec_path), "--name", "quick",
                                            "--storage", str(tmp_path), "--resume"]
    df = pd.read_parquet(exp / "results.parquet")  # written on the way out, as after Ctrl-C
    assert 1 <= (df["status"] == "TERMINATED").sum() < len(df) == 6


def _wait_for(predicate, proc: subprocess.Popen, what: str, *, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, (what, proc.communicate())
        assert time.time() < deadline, f"never saw {what}"
        time.sleep(0.02)


# Where the start-up is when the signal lands: right after the driver took the experiment's
# lock (Ray not started yet), or while ray.init starts Ray's processes.
START_UP_POINTS = [
    ("sigint_after_the_lock", signal.SIGINT, "lock"),
    ("sigterm_inside_ray_init", signal.SIGTERM, "ray"),
]


@pytest.mark.parametrize("case,sig,point", START_UP_POINTS, ids=[c[0] for c in START_UP_POINTS])
def test_a_signal_during_start_up_exits_130_and_keeps_nothing(case, sig, point, tmp_path, ray_tmp):
    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK_SPEC)
    storage = tmp_path / "store"
    (storage / "beside").mkdir(parents=True)
    (storage / "beside" / "keep.txt").write_text("precious")
    exp = storage / "quick"
    proc = subprocess.Popen([*CLI, "sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(RAY_TMPDIR=str(ray_tmp)), start_new_session=True)
    if point == "lock":
        _wait_for(lambda: (exp / LOCK_FILE).exists(), proc, "the driver's lock")
    else:
        _wait_for(lambda: bool(glob.glob(str(ray_tmp / "ray" / "session_*" / "logs" / "raylet.out"))), proc,
                  "Ray's raylet")
        assert not (exp / "tuner.pkl").exists(), "Tune had started already"
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "Traceback" not in err and "trials of" not in out
    assert "datavsmath: interrupted before the sweep started; nothing to resume, nothing kept" in err
    _assert_nothing_left(proc.pid, ray_tmp)
    assert sorted(p.name for p in storage.iterdir()) == ["beside"]  # the experiment folder went again
    assert (storage / "beside" / "keep.txt").read_text() == "precious"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word, as a wrong service would."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in [*held, server]:
        conn.close()


@pytest.mark.parametrize("kind", ["nothing_listens", pytest.param("never_answers", marks=pytest.mark.slow)])
def test_an_unreachable_address_fails_within_30_s(kind, tmp_path, request):
    port = _free_port() if kind == "nothing_listens" else request.getfixturevalue("silent_port")
    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK_SPEC)
    storage = tmp_path / "store"
    address = f"127.0.0.1:{port}"
    started = time.monotonic()
    proc = _cli("sweep", str(spec_path), "--storage", str(storage), "--address", address, "--no-dashboard",
                "--no-report", timeout=ADDRESS_BUDGET_S + 30)
    seconds = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert seconds < ADDRESS_BUDGET_S, seconds
    assert "Traceback" not in proc.stderr and "trials of" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("datavsmath: error: ")]
    assert len(errors) == 1, proc.stderr
    if kind == "nothing_listens":
        assert errors[0] == (f"datavsmath: error: --address {address}: no Ray cluster there: a TCP connection to "
                             f"{address} failed (Connection refused, 5 s limit); start one with `ray start --head`, "
                             f"or give the address that `ray status` prints")
    else:
        assert errors[0].startswith(f"datavsmath: error: --address {address}: the port takes connections, but Ray "
                                    f"could not connect to a cluster there (")
    assert list(storage.iterdir()) == []  # the experiment was never created


BAD_ADDRESSES = [
    ("no_port", "localhost", r"--address must be auto, local, HOST:PORT or ray://HOST:PORT, got 'localhost'"),
    ("other_scheme", "http://127.0.0.1:8265", r"--address must be auto, local, HOST:PORT or ray://HOST:PORT, got 'http://127.0.0.1:8265'"),
    ("port_too_big", "127.0.0.1:70000", r"--address port must be in \[1, 65535\], got 70000"),
]


@pytest.mark.parametrize("case,address,match", BAD_ADDRESSES, ids=[c[0] for c in BAD_ADDRESSES])
def test_a_malformed_address_is_refused_before_ray(case, address, match, tmp_path, capsys):
    import ray

    from datavsmath.cli import main

    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK_SPEC)
    code = main(["sweep", str(spec_path), "--storage", str(tmp_path / "store"), "--address", address])
    err = capsys.readouterr().err
    assert code == 2 and not ray.is_initialized()
    assert "Traceback" not in err and err.startswith("datavsmath: error: ") and len(err.splitlines()) == 1
    assert re.search(match, err), err
    assert list((tmp_path / "store").iterdir()) == []
