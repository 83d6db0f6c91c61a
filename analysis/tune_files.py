"""Raw reading of a Ray Tune experiment directory through pyarrow.fs (local or any URI).

Nothing here imports ray: Tune's files are plain JSON. What is read, per Ray 2.x:

- `experiment_state-<timestamp>.json`: {"trial_data": [[trial_json, run_metadata_json], ...]};
  trial_json holds trial_id, status, config, relative_logdir; run_metadata_json holds
  start_time, last_result_time and error_filename. The newest file (by name) wins.
- one folder per trial with `params.json` (the config), `result.json` (JSON lines, one per
  report) and `error.txt` when the trial errored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from trainables.storage import list_dir

STATE_PREFIX = "experiment_state-"
PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"

# The line of a Python traceback that names the exception, e.g. "ValueError: bad input" or
# "ray.exceptions.OutOfMemoryError: Task was killed"; error.txt's first line is only Ray's
# "Failure # 1 (occurred at ...)" banner, so the exception line is the useful summary.
# "pkg.mod.SomeError: message" at column 0 (traceback frames are indented): any class name,
# since user exceptions need not end in Error.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:: .*)?$")
# Ray appends one block per failure of a retried trial, each opened by this banner.
_FAILURE_BANNER = re.compile(r"^Failure # \d+ \(occurred at .*\)$")
# A folder is a trial folder when it holds one of these (a trial that died before it
# started has only error.txt).
TRIAL_MARKERS = ("params.json", "result.json", "error.txt")


@dataclass(frozen=True)
class TrialState:
    """One trial as Tune's experiment_state file records it."""

    trial_id: str
    status: str
    config: dict[str, Any]
    relative_logdir: str | None
    start_time: float | None
    last_result_time: float | None


@dataclass
class TrialFolder:
    """One trial folder's content: config (None without params.json), the parsed result
    lines and the error text."""

    name: str
    params: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error_text: str | None = None


def read_text(fs: pafs.FileSystem, path: str) -> str:
    """The whole file, inside an already opened filesystem, as UTF-8 text."""
    with fs.open_input_stream(path) as stream:
        return stream.read().decode("utf-8", errors="replace")


def read_json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON lines, skipping a torn last line (a report being written while we read)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def error_summary(text: str) -> str:
    """One line that says what went wrong in the latest failure of error.txt.

    The last exception line of its traceback ("ValueError: ..."), else its first line after
    Ray's "Failure # n (occurred at ...)" banner (e.g. "The actor died unexpectedly ...").
    """
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    banners = [i for i, line in enumerate(lines) if _FAILURE_BANNER.match(line)]
    latest = lines[banners[-1] + 1:] if banners else lines
    exceptions = [line for line in latest if _EXCEPTION_LINE.match(line)]
    if exceptions:
        return exceptions[-1]
    return (latest or lines or [""])[0]


def read_experiment_state(fs: pafs.FileSystem, root: str) -> dict[str, TrialState]:
    """trial_id -> TrialState from the newest experiment_state-*.json; {} when there is none."""
    names = sorted(info.base_name for info in list_dir(fs, root)
                   if info.type == pafs.FileType.File and info.base_name.startswith(STATE_PREFIX))
    if not names:
        return {}
    state = json.loads(read_text(fs, f"{root}/{names[-1]}"))
    trials = {}
    for trial_json, metadata_json in state.get("trial_data", []):
        trial = json.loads(trial_json)
        metadata = json.loads(metadata_json) if metadata_json else {}
        trials[trial["trial_id"]] = TrialState(
            trial_id=trial["trial_id"],
            status=trial.get("status", ""),
            config=trial.get("config") or {},
            relative_logdir=trial.get("relative_logdir"),
            start_time=metadata.get("start_time"),
            last_result_time=metadata.get("last_result_time"),
        )
    return trials


def read_trial_folders(fs: pafs.FileSystem, root: str) -> list[TrialFolder]:
    """Every sub-folder of the experiment holding a params.json, result.json or error.txt."""
    folders = []
    for info in list_dir(fs, root):
        if info.type != pafs.FileType.Directory:
            continue
        files = {f.base_name for f in list_dir(fs, info.path) if f.type == pafs.FileType.File}
        if not files & set(TRIAL_MARKERS):
            continue
        base = f"{root}/{info.base_name}"
        folder = TrialFolder(name=info.base_name)
        if PARAMS_FILE in files:
            folder.params = json.loads(read_text(fs, f"{base}/{PARAMS_FILE}"))
        if RESULT_FILE in files:
            folder.results = read_json_lines(read_text(fs, f"{base}/{RESULT_FILE}"))
        if ERROR_FILE in files:
            folder.error_text = read_text(fs, f"{base}/{ERROR_FILE}")
        folders.append(folder)
    return folders
