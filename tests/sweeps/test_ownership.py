"""Who may write or delete an experiment: names, --overwrite, and the one-driver lock.

Every refusal is checked the same way: exit 2, one `datavsmath: error:` line naming the
field and the value, no traceback, Ray never started, and nothing outside the experiment
touched (a sentinel folder beside the experiment and one above the storage survive byte
for byte). The lock cases run real drivers: one holds an experiment while others try it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray

from datavsmath.cli import main
from datavsmath.sweeps import lock
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.ownership import claim_experiment
from datavsmath.sweeps.spec import dump_spec
from datavsmath.sweeps.validation import load_spec

CLI = [sys.executable, "-m", "datavsmath.cli"]
FAST = ["--no-dashboard", "--no-report"]
# Two rf trials on 1-2 % of the data: the sweep's cost is Ray's start-up (~10 s on 2 cores).
TINY_SPEC = "name: tiny\nmodel: [rf]\nsample_frac: [0.01, 0.02]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"
# Long enough (~15 s) for other drivers to try the experiment while this one holds it.
HOLD_SPEC = "name: held\nmodel: [rf]\nsample_frac: [0.1, 0.2, 0.3, 0.4]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"
SECOND_DRIVER_BUDGET_S = 15  # a refused driver stops before Ray: Python start-up and imports


# ---------------------------------------------------------------- helpers

def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (relative), with each file's bytes (None for folders and links)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


class Sentinels:
    """A folder beside the experiment (in the storage) and one above the storage, with files."""

    def __init__(self, tmp_path: Path):
        self.storage = tmp_path / "store"
        self.beside = self.storage / "beside"
        self.above = tmp_path / "above"
        for folder in (self.beside, self.above / "deep"):
            folder.mkdir(parents=True)
            (folder / "keep.txt").write_bytes(b"precious \x00 bytes\n")
        (self.above / "deep" / "data.bin").write_bytes(bytes(range(256)))
        self.before = {"beside": _tree(self.beside), "above": _tree(self.above)}

    def assert_intact(self) -> None:
        assert {"beside": _tree(self.beside), "above": _tree(self.above)} == self.before


@pytest.fixture
def place(tmp_path) -> Sentinels:
    return Sentinels(tmp_path)


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


def _run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """The real CLI in this process; Ray must not have been started by it."""
    assert not ray.is_initialized()
    code = main(argv)
    out, err = capsys.readouterr()
    assert not ray.is_initialized(), "Ray started before the input was refused"
    return code, out, err


def _one_error(err: str, pattern: str) -> str:
    """The single `datavsmath: error:` line of `err`, which must match `pattern`; no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("datavsmath: error: ")]
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def _assert_refused(code: int, out: str, err: str, pattern: str) -> str:
    assert code == 2, out + err
    assert "trials of" not in out and "Trial status" not in out  # Ray and Tune never ran
    return _one_error(err, pattern)


# ---------------------------------------------------------------- names

UNSAFE_NAMES = [
    ("absolute_path", "{above}"),
    ("dot", "."),
    ("dot_dot", ".."),
    ("parent_path", "../above"),
    ("nested", "a/b"),
    ("empty", ""),
    ("too_long", "x" * 201),
]


@pytest.mark.parametrize("case,name", UNSAFE_NAMES, ids=[c[0] for c in UNSAFE_NAMES])
def test_an_unsafe_name_is_refused_before_anything_is_touched(case, name, place, tiny_spec, capsys):
    name = name.format(above=place.above)
    storage_before = _tree(place.storage)
    code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), "--name", name,
                                "--overwrite", *FAST], capsys)
    _assert_refused(code, out, err, r"^datavsmath: error: --name must be 1-200 letters, digits, '\.', '_' or '-' "
                                    rf"\(one folder name, not '\.' or '\.\.'\), got {re.escape(repr(name)[:40])}")
    assert _tree(place.storage) == storage_before
    place.assert_intact()


@pytest.mark.parametrize("name", ["..", ".", "../above"])
def test_an_unsafe_spec_name_is_refused_with_overwrite(name, place, tmp_path, capsys):
    spec = tmp_path / "evil.yaml"
    spec.write_text(TINY_SPEC.replace("name: tiny", f"name: '{name}'"))
    code, out, err = _run_main(["sweep", str(spec), "--storage", str(place.storage), "--overwrite", *FAST], capsys)
    _assert_refused(code, out, err, rf"^datavsmath: error: (spec .*: )?name must be 1-200 letters.*, got {re.escape(repr(name))}$")
    place.assert_intact()


# ---------------------------------------------------------------- --overwrite

def _make_experiment(folder: Path, spec_path: Path) -> None:
    """An experiment of this project as a previous run leaves it: our spec, Tune's state, a trial."""
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(dump_spec(load_spec(spec_path)))
    (folder / "tuner.pkl").write_bytes(b"old tuner")
    (folder / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": []}')
    (folder / "old_trial").mkdir()
    (folder / "old_trial" / "result.json").write_text('{"acc": 0.5}\n')


NOT_EXPERIMENTS = [
    ("user_files", {"notes.txt": b"mine", "photos/cat.jpg": b"\xff\xd8"}, r"it holds notes\.txt, photos/"),
    ("spec_but_no_tune_state", {"spec.yaml": b"name: tiny\n"}, r"it holds spec\.yaml;"),
    ("tune_state_but_no_spec", {"tuner.pkl": b"x", "trial/result.json": b"{}"}, r"it holds trial/, tuner\.pkl"),
]


@pytest.mark.parametrize("case,files,holds", NOT_EXPERIMENTS, ids=[c[0] for c in NOT_EXPERIMENTS])
def test_overwrite_refuses_a_folder_that_is_not_an_experiment(case, files, holds, place, tiny_spec, capsys):
    target = place.storage / "tiny"
    for rel, data in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    before = _tree(target)
    code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), "--overwrite", *FAST],
                               capsys)
    _assert_refused(code, out, err, rf"--overwrite: {re.escape(str(target))} is not an experiment of datavsmath "
                                    rf"\(no spec\.yaml with tuner\.pkl or experiment_state-\*\.json\); refusing to "
                                    rf"delete it; {holds}.*choose another --name or --storage")
    assert _tree(target) == before
    place.assert_intact()


def test_without_overwrite_a_foreign_folder_is_refused_without_suggesting_overwrite(place, tiny_spec, capsys):
    target = place.storage / "tiny"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), *FAST], capsys)
    line = _assert_refused(code, out, err, rf"{re.escape(str(target))} already exists and is not an experiment of "
                                           r"datavsmath; it holds notes\.txt; choose another --name or --storage")
    assert "--overwrite" not in line
    assert (target / "notes.txt").read_text() == "mine"
    place.assert_intact()


def test_overwrite_never_follows_a_link_out_of_the_storage(place, tiny_spec, capsys):
    outside = place.above / "experiment_elsewhere"
    _make_experiment(outside, tiny_spec)
    (place.storage / "tiny").symlink_to(outside)
    place.before["above"] = _tree(place.above)
    code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), "--overwrite", *FAST],
                               capsys)
    _assert_refused(code, out, err, rf"--overwrite: {re.escape(str(place.storage / 'tiny'))} is a link to "
                                    rf"{re.escape(str(outside))}; --overwrite deletes only a folder directly inside "
                                    rf"the storage path {re.escape(str(place.storage))}; refusing to delete it")
    place.assert_intact()


def test_a_file_in_place_of_the_experiment_is_refused(place, tiny_spec, capsys):
    (place.storage / "tiny").write_bytes(b"a file")
    code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), "--overwrite", *FAST],
                               capsys)
    _assert_refused(code, out, err, r"tiny is a file, not an experiment folder; choose another --name or --storage")
    assert (place.storage / "tiny").read_bytes() == b"a file"
    place.assert_intact()


@pytest.mark.slow  # a real sweep over a real one; in make test the refusals above keep --overwrite inside the experiment
def test_overwrite_replaces_an_experiment_and_nothing_else(place, tiny_spec):
    exp = place.storage / "tiny"
    _make_experiment(exp, tiny_spec)
    proc = subprocess.run([*CLI, "sweep", str(tiny_spec), "--storage", str(place.storage), "--overwrite", *FAST],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not (exp / "old_trial").exists() and not (exp / "experiment_state-2026-01-01_00-00-00.json").exists()
    assert (exp / "tuner.pkl").read_bytes() != b"old tuner"
    df = pd.read_parquet(exp / "results.parquet")
    assert sorted(df["sample_frac"]) == [0.01, 0.02] and (df["status"] == "TERMINATED").all()
    assert not (exp / lock.LOCK_FILE).exists()
    place.assert_intact()


# ---------------------------------------------------------------- one driver per experiment

def _wait_for_lock(exp: Path, driver: subprocess.Popen, *, timeout: float = 120) -> lock.Holder:
    deadline = time.time() + timeout
    while True:
        holder = lock.lock_holder(exp) if exp.is_dir() else None
        if holder is not None:
            return holder
        assert driver.poll() is None, driver.communicate()
        assert time.time() < deadline, "the first driver never took the lock"
        time.sleep(0.05)


@pytest.mark.slow  # a second real sweep against a running one; in make test the lock's own tests above and below
def test_a_second_driver_on_a_running_experiment_stops_at_once_naming_the_holder(place, tmp_path):
    spec = tmp_path / "held.yaml"
    spec.write_text(HOLD_SPEC)
    exp = place.storage / "held"
    args = ["sweep", str(spec), "--storage", str(place.storage), *FAST]
    first = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        holder = _wait_for_lock(exp, first)
        assert (holder.host, holder.pid) == (socket.gethostname(), first.pid)
        started = time.monotonic()
        others = {extra: subprocess.Popen([*CLI, *args, *([extra] if extra else [])], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, env=_env())
                  for extra in ("", "--resume", "--overwrite")}
        results = {extra: (p.wait(timeout=60), *p.communicate()) for extra, p in others.items()}
        seconds = time.monotonic() - started
        assert first.poll() is None, "the first driver ended before the others tried: make HOLD_SPEC longer"
        assert seconds < SECOND_DRIVER_BUDGET_S, seconds
        for extra, (code, out, err) in results.items():
            assert code == 2, (extra, out, err)
            _one_error(err, rf"experiment {re.escape(str(exp))} is in use by the sweep driver pid {first.pid} on "
                            rf"host {re.escape(holder.host)} \(started {re.escape(holder.started)}\); wait for it "
                            rf"to end or stop it")
            assert "trials of" not in out
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out[-2000:] + err[-2000:]
    df = pd.read_parquet(exp / "results.parquet")
    assert sorted(df["sample_frac"]) == [0.1, 0.2, 0.3, 0.4] and (df["status"] == "TERMINATED").all()
    assert len([p for p in exp.iterdir() if (p / "params.json").is_file()]) == 4  # no second run's trials
    assert not (exp / lock.LOCK_FILE).exists()
    place.assert_intact()


def test_a_lock_of_another_host_is_never_taken_over(place, tiny_spec, capsys):
    exp = place.storage / "tiny"
    _make_experiment(exp, tiny_spec)
    foreign = {"host": "elsewhere.example", "pid": 4242, "started": "2026-12-01T08:00:00+00:00"}
    (exp / lock.LOCK_FILE).write_text(json.dumps(foreign))
    before = _tree(exp)
    for extra in ("--resume", "--overwrite"):
        code, out, err = _run_main(["sweep", str(tiny_spec), "--storage", str(place.storage), extra, *FAST], capsys)
        _assert_refused(code, out, err, rf"experiment {re.escape(str(exp))} is in use by the sweep driver pid 4242 "
                                        r"on host elsewhere\.example \(started 2026-12-01T08:00:00\+00:00\), which "
                                        rf"this host cannot check; if that driver is gone, delete "
                                        rf"{re.escape(str(exp / lock.LOCK_FILE))}$")
    assert _tree(exp) == before
    place.assert_intact()


# ---------------------------------------------------------------- the lock file itself

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_file_format_and_release(tmp_path):
    assert lock.lock_holder(tmp_path) is None
    with lock.held(tmp_path) as me:
        data = json.loads((tmp_path / "driver.lock").read_text())
        assert data == {"host": socket.gethostname(), "pid": os.getpid(), "started": me.started}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", me.started)
        assert lock.lock_holder(tmp_path) == me and lock.holder_alive(me) is True
        with pytest.raises(lock.LockError, match=rf"is in use by the sweep driver pid {os.getpid()} on host "):
            lock.acquire(tmp_path)
    assert not (tmp_path / "driver.lock").exists()


def test_holder_alive_tells_gone_reused_and_foreign_pids():
    now = "2026-12-01T08:00:00+00:00"
    assert lock.holder_alive(lock.Holder(socket.gethostname(), _dead_pid(), now)) is False
    assert lock.holder_alive(lock.Holder("elsewhere.example", os.getpid(), now)) is None
    # our pid, but this process started long after that lock was taken: a reused pid
    assert lock.holder_alive(lock.Holder(socket.gethostname(), os.getpid(), "2000-01-01T00:00:00+00:00")) is False


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path):
    stale = {"host": socket.gethostname(), "pid": _dead_pid(), "started": "2026-12-01T08:00:00+00:00"}
    (tmp_path / "driver.lock").write_text(json.dumps(stale))
    notes: list[str] = []
    me = lock.acquire(tmp_path, log=notes.append)
    assert me.pid == os.getpid() and lock.lock_holder(tmp_path) == me
    assert notes == [f"datavsmath: note: took over the lock of {tmp_path} from the sweep driver pid {stale['pid']} "
                     f"on host {stale['host']} (started {stale['started']}), which is no longer running"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driver.lock"]
    lock.release(tmp_path, me)


def test_a_damaged_lock_file_is_named_not_taken_over(tmp_path):
    (tmp_path / "driver.lock").write_text("{not json")
    with pytest.raises(lock.LockError, match=r"lock file .*driver\.lock is not a datavsmath lock \('\{not json'\); "
                                             r"if no sweep runs this experiment, delete it"):
        lock.acquire(tmp_path)
    assert (tmp_path / "driver.lock").read_text() == "{not json"


# ---------------------------------------------------------------- claiming an experiment (no Ray)

def test_a_claim_that_never_starts_keeps_nothing(place, tiny_spec):
    options = SweepOptions(storage=str(place.storage))
    exp = place.storage / "tiny"
    with pytest.raises(SweepError, match="refused in the block"):
        with claim_experiment(load_spec(tiny_spec), options=options) as claim:
            assert claim.experiment_dir == str(exp) and lock.lock_holder(exp) == claim.holder
            assert claim.holder is not None and claim.holder.pid == os.getpid()
            raise SweepError("refused in the block")
    assert not exp.exists()
    place.assert_intact()


def test_a_start_killed_before_it_wrote_anything_is_taken_over(place, tiny_spec):
    """What a SIGKILL during start-up leaves: the folder and the dead driver's lock, no more."""
    exp = place.storage / "tiny"
    exp.mkdir()
    stale = {"host": socket.gethostname(), "pid": _dead_pid(), "started": "2026-12-01T08:00:00+00:00"}
    (exp / lock.LOCK_FILE).write_text(json.dumps(stale))
    notes: list[str] = []
    with claim_experiment(load_spec(tiny_spec), options=SweepOptions(storage=str(place.storage)),
                          log=notes.append) as claim:
        assert claim.holder == lock.lock_holder(exp) and claim.holder is not None
        assert claim.holder.pid == os.getpid()
    assert len(notes) == 1 and f"from the sweep driver pid {stale['pid']} on host" in notes[0]
    assert not exp.exists()  # a start that never got going leaves nothing, now as then
    place.assert_intact()


def test_a_resume_claim_keeps_the_experiment_and_frees_it(place, tiny_spec):
    exp = place.storage / "tiny"
    _make_experiment(exp, tiny_spec)
    before = _tree(exp)
    with claim_experiment(load_spec(tiny_spec), options=SweepOptions(storage=str(place.storage), resume=True)):
        assert (exp / lock.LOCK_FILE).is_file()
    assert _tree(exp) == before
