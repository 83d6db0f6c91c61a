"""Raw reading of a Ray Tune experiment directory through pyarrow.fs (local or any URI).

Nothing here imports ray: Tune's files are plain JSON. What is read, per Ray 2.x:

- `experiment_state-<timestamp>.json`: {"trial_data": [[trial_json, run_metadata_json], ...]};
  trial_json holds trial_id, status, config, relative_logdir; run_metadata_json holds
  start_time, last_result_time and error_filename. The newest file (by name) wins.
- one folder per trial with `params.json` (the config), `result.json` (JSON lines, one per
  report) and `error.txt` when the trial errored.

Files that do not read as Tune writes them (cut short, not JSON, the wrong shape) never
raise: what can be read is kept, and each problem is one line naming the file, in the
folder's `problems` or the second value of `read_experiment_state`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from datavsmath.sweeps.experiment_layout import ERROR_FILE, PARAMS_FILE, RESULT_FILE, STATE_PREFIX, TRIAL_MARKERS
from datavsmath.trainables.storage import list_dir

# The line of a Python traceback that names the exception, e.g. "ValueError: bad input" or
# "ray.exceptions.OutOfMemoryError: Task was killed"; error.txt's first line is only Ray's
# "Failure # 1 (occurred at ...)" banner, so the exception line is the useful summary.
# "pkg.mod.SomeError: message" at column 0 (traceback frames are indented): any class name,
# since user exceptions need not end in Error.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:: .*)?$")
# Ray appends one block per failure of a retried trial, each opened by this banner.
_FAILURE_BANNER = re.compile(r"^Failure # \d+ \(occurred at .*\)$")


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
    problems: list[str] = field(default_factory=list)  # "NAME/FILE: what is wrong", one per file


def read_text(fs: pafs.FileSystem, path: str) -> str:
    """The whole file, inside an already opened filesystem, as UTF-8 text."""
    with fs.open_input_stream(path) as stream:
        return stream.read().decode("utf-8", errors="replace")


def _json_problem(exc: Exception) -> str:
    """What json.loads said, in a few words (its messages can quote huge numbers)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "not valid JSON: nested too deeply"
    return f"not valid JSON: {str(exc).split(':')[0][:120]}"


def parse_json(text: str) -> tuple[Any, str | None]:
    """(value, None) for JSON text, else (None, what is wrong)."""
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, 5000-digit numbers, deep nesting
        return None, _json_problem(exc)


def read_json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON lines, skipping a torn last line (a report being written while we read)
    and any line that is not a JSON object (see `json_lines_with_problems`)."""
    return json_lines_with_problems(text)[0]


def json_lines_with_problems(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(the JSON-object lines, what is wrong with the others). A last line without its
    newline that does not parse is a report being written, not a problem."""
    rows, problems = [], []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        value, problem = parse_json(line)
        if problem is None and not isinstance(value, dict):
            problem = f"a JSON {type(value).__name__}, not an object"
        if problem is None:
            rows.append(value)
        elif number < len(lines):  # the text goes on after this line: not a torn last line
            problems.append(f"line {number}: {problem}")
    return rows, problems


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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _trial_state(entry: Any) -> tuple[TrialState | None, str | None]:
    """One trial_data entry, [trial_json, metadata_json], as a TrialState, or what is wrong."""
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
        return None, "not a [trial, metadata] pair of JSON texts"
    trial, problem = parse_json(entry[0])
    if problem or not isinstance(trial, dict) or not isinstance(trial.get("trial_id"), str):
        return None, f"trial JSON {problem or 'has no trial_id'}"
    metadata, problem = parse_json(entry[1]) if isinstance(entry[1], str) and entry[1] else ({}, None)
    metadata = metadata if isinstance(metadata, dict) else {}
    logdir, config, status = trial.get("relative_logdir"), trial.get("config"), trial.get("status")
    state = TrialState(trial_id=trial["trial_id"], status=status if isinstance(status, str) else "",
                       config=config if isinstance(config, dict) else {},
                       relative_logdir=logdir if isinstance(logdir, str) else None,
                       start_time=_number(metadata.get("start_time")),
                       last_result_time=_number(metadata.get("last_result_time")))
    return state, (f"trial {state.trial_id}: metadata {problem}" if problem else None)


def _state_trials(state: Any) -> tuple[dict[str, TrialState], list[str]] | str:
    """trial_id -> TrialState and the entries' problems, or what is wrong with the whole file."""
    if not isinstance(state, dict) or not isinstance(state.get("trial_data"), list):
        return "not a Tune experiment state (no trial_data list)"
    trials, problems = {}, []
    for i, entry in enumerate(state["trial_data"]):
        trial, problem = _trial_state(entry)
        if problem:
            problems.append(f"trial_data[{i}]: {problem}")
        if trial is not None:
            trials[trial.trial_id] = trial
    return trials, problems


def read_experiment_state(fs: pafs.FileSystem, root: str) -> tuple[dict[str, TrialState], list[str]]:
    """(trial_id -> TrialState, problems) from the newest readable experiment_state-*.json.

    ({}, []) when there is none. A newer file that cannot be read (cut short while Tune
    wrote it) is a problem, and the next older one is read instead.
    """
    names = sorted(info.base_name for info in list_dir(fs, root)
                   if info.type == pafs.FileType.File and info.base_name.startswith(STATE_PREFIX))
    problems: list[str] = []
    for name in reversed(names):
        try:
            text = read_text(fs, f"{root}/{name}")
        except OSError as exc:
            problems.append(f"{name}: cannot be read ({exc})")
            continue
        state, problem = parse_json(text)
        read = _state_trials(state) if problem is None else problem
        if isinstance(read, str):
            older = [n for n in names if n < name]
            problems.append(f"{name}: {read}; " + (f"read {older[-1]} instead" if older else
                                                    "Tune's trial states are unknown"))
            continue
        trials, entry_problems = read
        return trials, problems + [f"{name}: {p}" for p in entry_problems]
    return {}, problems


def _read_folder(fs: pafs.FileSystem, base: str, name: str, files: set[str]) -> TrialFolder:
    folder = TrialFolder(name=name)
    for file in (PARAMS_FILE, RESULT_FILE, ERROR_FILE):
        if file not in files:
            continue
        try:
            text = read_text(fs, f"{base}/{file}")
        except OSError as exc:
            folder.problems.append(f"{name}/{file}: cannot be read ({exc})")
            continue
        if file == PARAMS_FILE:
            params, problem = parse_json(text)
            if problem is None and not isinstance(params, dict):
                problem = f"a JSON {type(params).__name__}, not an object"
            if problem:
                folder.problems.append(f"{name}/{file}: {problem}")
            else:
                folder.params = params
        elif file == RESULT_FILE:
            folder.results, bad = json_lines_with_problems(text)
            if bad:
                more = f" (and {len(bad) - 1} more such lines)" if len(bad) > 1 else ""
                folder.problems.append(f"{name}/{file}: {bad[0]}{more}; skipped")
        else:
            folder.error_text = text
    return folder


def read_trial_folders(fs: pafs.FileSystem, root: str) -> list[TrialFolder]:
    """Every sub-folder of the experiment holding a params.json, result.json or error.txt."""
    folders = []
    for info in list_dir(fs, root):
        if info.type != pafs.FileType.Directory:
            continue
        try:
            files = {f.base_name for f in list_dir(fs, info.path) if f.type == pafs.FileType.File}
        except OSError as exc:  # e.g. a folder without read permission
            folders.append(TrialFolder(name=info.base_name, problems=[f"{info.base_name}: cannot be listed ({exc})"]))
            continue
        if files & set(TRIAL_MARKERS):
            folders.append(_read_folder(fs, f"{root}/{info.base_name}", info.base_name, files))
    return folders
