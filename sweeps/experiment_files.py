"""Checks of an experiment directory's own files before `--resume` hands it to Tune. No ray.

`Tuner.restore` reads `tuner.pkl` and the newest `experiment_state-*.json`; an empty or
truncated one makes it fail with a traceback after Ray started. `check_resumable` reads
what it can without Ray and says which file is wrong and what to do.
"""

from __future__ import annotations

import json

import pyarrow.fs as pafs

from datavsmath.sweeps.experiment_layout import SPEC_FILE, STATE_PREFIX, TUNER_FILE, read_stored_spec
from datavsmath.sweeps.spec import Spec, SpecError
from datavsmath.trainables import storage


class ExperimentFilesError(SpecError):
    """An experiment directory's files cannot be used as they are; the message names the
    file, what is wrong with it and what to do."""


def _size(fs: pafs.FileSystem, path: str) -> int | None:
    """Bytes of the file at `path`, or None when there is no file."""
    info = fs.get_file_info(path)
    return info.size if info.type == pafs.FileType.File else None


def _state_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """experiment_state-*.json names, oldest first (Tune restores from the last by name)."""
    return sorted(i.base_name for i in storage.list_dir(fs, root)
                  if i.type == pafs.FileType.File and i.base_name.startswith(STATE_PREFIX))


def _check_state(fs: pafs.FileSystem, root: str, exp_dir: str) -> None:
    """The newest experiment_state file, when there is one, must be a JSON object with a
    trial_data list: Tune restores from that file alone."""
    names = _state_files(fs, root)
    if not names:
        return
    path = storage.join(exp_dir, names[-1])
    try:
        state = json.loads(storage.read_text(path))
    except (ValueError, RecursionError) as exc:
        older = f"delete it to resume from {names[-2]}, or " if len(names) > 1 else ""
        raise ExperimentFilesError(f"--resume: {path} is not valid JSON ({str(exc)[:120]}), cut short while "
                                   f"being written; {older}start again with --overwrite") from exc
    if not isinstance(state, dict) or not isinstance(state.get("trial_data"), list):
        raise ExperimentFilesError(f"--resume: {path} is not a Tune experiment state (no trial_data list); "
                                   "start again with --overwrite")


def check_resumable(exp_dir: str) -> Spec:
    """The stored spec of an experiment that `--resume` can continue.

    exp_dir: the experiment directory, local path or URI. Checks that spec.yaml exists and
    parses (datavsmath.sweeps.experiment_layout.read_stored_spec), that tuner.pkl exists and is not empty, and that
    the newest experiment_state-*.json is a complete JSON file. Raises ExperimentFilesError
    (a SpecError) naming the file, what is wrong and what to do.
    """
    fs, root = storage.open_location(exp_dir)
    missing = [name for name in (SPEC_FILE, TUNER_FILE) if _size(fs, f"{root}/{name}") is None]
    if missing == [TUNER_FILE]:  # started, but Tune never saved the experiment
        has_state = any(info.base_name.startswith(STATE_PREFIX) for info in storage.list_dir(fs, root))
        advice = ("start it again with --overwrite" if has_state
                  else "no trial ran: delete that folder to start again, or choose another --name")
        raise ExperimentFilesError(f"--resume: no experiment to resume at {exp_dir} (no {TUNER_FILE}); {advice}")
    if missing:
        raise ExperimentFilesError(f"--resume: no experiment to resume at {exp_dir} (no {' or '.join(missing)}); "
                                   "run without --resume to start it")
    if _size(fs, f"{root}/{TUNER_FILE}") == 0:
        raise ExperimentFilesError(f"--resume: {storage.join(exp_dir, TUNER_FILE)} is empty (0 bytes): Tune never "
                                   "finished saving this experiment; start it again with --overwrite")
    try:
        spec = read_stored_spec(exp_dir)
    except SpecError as exc:
        raise ExperimentFilesError(f"--resume: {exc}; start again with --overwrite") from exc
    _check_state(fs, root, exp_dir)
    return spec
