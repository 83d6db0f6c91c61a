"""Owning an experiment folder: everything checked before anything is written, then the
folder claimed (created, locked) for one driver.

One driver owns an experiment at a time (`claim_experiment`, sweeps/lock.py): the folder is
created (on local storage) and locked before Ray starts, a second sweep or resume on it
stops at once naming the holder, and the lock goes when the driver exits. On URI storage
(s3://, gs://) the lock is an object in the bucket. `--overwrite` deletes only an experiment of
this project, directly inside the storage path; nothing else is ever deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from pyarrow.fs import FileType

from datavsmath.sweeps import lock
from datavsmath.sweeps.experiment_layout import (
    INPUTS_DIR,
    SPEC_FILE,
    STATE_PATTERN,
    TUNER_FILE,
    check_resumable,
    experiment_path,
    is_resumable,
    next_extension,
)
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.ray_session import check_address
from datavsmath.sweeps.spec import Spec, SpecError, dump_spec, spec_to_dict
from datavsmath.sweeps.sweep_data import FoundData, find_data
from datavsmath.sweeps.validation import check_experiment_name
from datavsmath.trainables import storage

LISTED_NAMES = 5  # a refusal names this many of the entries it found


def experiment_name(spec: Spec, *, options: SweepOptions) -> str:
    """--name, or the spec's name: one safe folder name (datavsmath.sweeps.validation.check_experiment_name)."""
    if options.name is None:
        return check_experiment_name(spec.name)
    return check_experiment_name(options.name, field="--name")


def _filesystem(path: str) -> tuple[Any, str]:
    try:
        return storage.open_location(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on bad URIs or credentials
        raise SweepError(f"storage path {path!r} cannot be opened: {exc}") from exc


def _why_unreachable(storage_path: str, exc: Exception) -> str:
    """What a user can do about an object store that refused or did not answer (one line; the
    credentials are never in it: pyarrow's messages hold none)."""
    text = " ".join(str(exc).split())
    bucket = storage_path.split("://", 1)[1].split("/", 1)[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    where = f"endpoint {endpoint}" if endpoint else "the object store"
    if "NETWORK_CONNECTION" in text or "Could not connect" in text or "curlCode" in text:
        why = f"the {where} does not answer; check AWS_ENDPOINT_URL and the network"
    elif "ACCESS_DENIED" in text or "AccessDenied" in text or "403" in text or "InvalidAccessKeyId" in text:
        why = (f"access denied to bucket {bucket!r}; check the credentials (AWS_ACCESS_KEY_ID and "
               f"AWS_SECRET_ACCESS_KEY, or the node's role) and that they may write there")
    elif "not found" in text.lower() or "NoSuchBucket" in text or "NOT_FOUND" in text:
        why = f"bucket {bucket!r} does not exist; create it first (datavsmath does not create buckets)"
    else:
        why = f"not reachable or writable: {text}"
    return f"storage path {storage_path!r}: {why}"


def check_storage(storage_path: str) -> None:
    """The storage path must be a writable folder (created if missing)."""
    if not storage.is_uri(storage_path):
        folder = Path(storage_path).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"storage path {storage_path!r} cannot be created: {exc.strerror}") from exc
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise SweepError(f"storage path {storage_path!r} is not a writable folder")
        return
    fs, root = _filesystem(storage_path)
    try:
        fs.create_dir(root, recursive=True)
        fs.get_file_info(root)
    except Exception as exc:
        raise SweepError(_why_unreachable(storage_path, exc)) from exc


def _entries(exp_dir: str) -> list[str] | None:
    """The names in `exp_dir`, folders with a trailing '/', without the driver's lock file and
    the inputs a Python caller wrote there first (INPUTS_DIR); None when nothing is there. A
    file, or a link to nothing, is refused."""
    try:
        if storage.is_uri(exp_dir):
            fs, inner = _filesystem(exp_dir)
            kind = storage.file_type(fs, inner)
            found = None if kind == FileType.NotFound else kind == FileType.Directory
            names = [(i.base_name, i.type == FileType.Directory) for i in storage.list_dir(fs, inner)] if found else []
        else:
            folder = Path(exp_dir)
            if folder.is_symlink() and not folder.exists():
                raise SweepError(f"{exp_dir} is a link to {os.readlink(folder)}, which does not exist; "
                                 f"choose another --name or --storage")
            found = folder.is_dir() if folder.exists() else None
            names = [(e.name, e.is_dir()) for e in folder.iterdir()] if found else []
    except OSError as exc:
        raise SweepError(f"{exp_dir} cannot be read: {exc.strerror or exc}") from exc
    if found is None:
        return None
    if not found:
        raise ExperimentConflictError(f"{exp_dir} is a file, not an experiment folder; choose another --name or "
                                      "--storage")
    return sorted(name + "/" if is_dir else name for name, is_dir in names if not _ignored(name))


def _ignored(name: str) -> bool:
    """The driver's lock (and on URI storage its claims), and the inputs a caller wrote first."""
    return name in (lock.LOCK_FILE, INPUTS_DIR) or name.startswith(lock.CLAIM_PREFIX)


def _is_experiment(names: list[str]) -> bool:
    """Whether a folder holding `names` is an experiment of this project: our spec and Tune's state."""
    return SPEC_FILE in names and (TUNER_FILE in names or any(fnmatch(n, STATE_PATTERN) for n in names))


class ExperimentConflictError(SpecError):
    """What was asked of the experiment folder (its name, --resume, --overwrite) conflicts with
    what is there: bad input, which another --name or flag resolves; the message says which."""


def check_extendable(exp_dir: str) -> None:
    """SweepError unless `--extend` can add cells to `exp_dir`: the one test that both the
    run and its --dry-run apply."""
    _check_extendable(exp_dir, _entries(exp_dir))


def _check_extendable(exp_dir: str, names: list[str] | None) -> None:
    if names is None or not _is_experiment(names):
        raise SweepError(f"--extend: {exp_dir} is not an experiment of datavsmath"
                         + (" (nothing is there)" if names is None else f"; it holds {_listing(names)}")
                         + "; run without --extend to start it")


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_NAMES])
    return shown + (f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else "")


def _not_deletable(exp_dir: str, storage_path: str) -> str | None:
    """Why --overwrite may not clear `exp_dir`, or None: it deletes only a real folder
    directly inside the storage path, never through a link."""
    if storage.is_uri(exp_dir):
        return None
    folder, root = Path(exp_dir), Path(storage_path).expanduser().resolve()
    if folder.is_symlink() or folder.resolve().parent != root:
        return (f"{exp_dir} is a link to {folder.resolve()}; --overwrite deletes only a folder directly inside "
                f"the storage path {root}")
    return None


def check_experiment(spec: Spec, *, options: SweepOptions, holder: lock.Holder | None = None,
                     empty_ok: bool = False) -> str:
    """Check the name, the storage path and what is already there; write nothing.

    Refuses to mix results or to delete what is not ours: an existing experiment needs
    --resume (with the same spec) or --overwrite, and --overwrite deletes only an experiment
    of this project (spec.yaml with tuner.pkl or experiment_state-*.json) that is a folder
    directly inside the storage path. On local storage an experiment whose lock another
    live driver holds is refused; `holder` is this driver's own lock, once taken, and
    `empty_ok` says an empty folder there was let through before the lock was taken (a
    folder with nothing but the stale lock of a dead driver is let through too).
    Returns the experiment directory.
    """
    name = experiment_name(spec, options=options)
    check_storage(options.storage)
    exp_dir = experiment_path(options.storage, name)
    stale = lock.check_free(exp_dir, me=holder)  # LockError, a SweepError
    names = _entries(exp_dir)
    # A start that was killed before it wrote anything, or a folder holding only our inputs.
    empty_ok = empty_ok or stale is not None or (names == [] and storage.exists(storage.join(exp_dir, INPUTS_DIR)))
    if options.extend:
        _check_extendable(exp_dir, names)
    elif options.resume:
        if spec_to_dict(check_resumable(exp_dir)) != spec_to_dict(spec):
            stored = storage.join(exp_dir, SPEC_FILE)
            raise ExperimentConflictError(f"--resume: the spec differs from the one stored in {stored}; "
                                          f"resume with the same spec, or start a new --name")
    elif names is None or (empty_ok and not names):
        pass
    elif names == [SPEC_FILE] and not options.overwrite:  # started, killed before Tune saved anything
        raise ExperimentConflictError(f"experiment {exp_dir} was started but no trial ran (it holds only "
                                      f"{SPEC_FILE}); delete that folder to start again, or choose another --name")
    elif not _is_experiment(names) and names:
        what = (f"--overwrite: {exp_dir} is not an experiment of datavsmath (no {SPEC_FILE} with {TUNER_FILE} "
                f"or {STATE_PATTERN}); refusing to delete it" if options.overwrite
                else f"{exp_dir} already exists and is not an experiment of datavsmath")
        raise ExperimentConflictError(f"{what}; it holds {_listing(names)}; choose another --name or --storage")
    elif options.overwrite:
        why = _not_deletable(exp_dir, options.storage)
        if why:
            raise ExperimentConflictError(f"--overwrite: {why}; refusing to delete it")
    elif names:
        why = _not_deletable(exp_dir, options.storage)
        raise ExperimentConflictError(f"experiment {exp_dir} already exists; use --resume to continue it"
                                      + (f" ({why})" if why else " or --overwrite to delete it and start again"))
    else:
        raise ExperimentConflictError(f"{exp_dir} already exists; use --resume to continue it or --overwrite to "
                                      f"start again in it (it is an empty folder)")
    return exp_dir


def _clear_folder(exp_dir: str) -> None:
    """Delete what an experiment folder holds, except the driver's lock and the inputs the new
    run names."""
    if storage.is_uri(exp_dir):
        fs, inner = _filesystem(exp_dir)
        for info in storage.list_dir(fs, inner):
            if _ignored(info.base_name):
                continue
            if info.type == FileType.Directory:
                fs.delete_dir(info.path)
            else:
                fs.delete_file(info.path)
        return
    for entry in Path(exp_dir).iterdir():
        if _ignored(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # never follows links inside
        else:
            entry.unlink()


def start_experiment(spec: Spec, *, exp_dir: str, options: SweepOptions) -> str:
    """Delete an old experiment on --overwrite, and store the spec beside the trials.

    Returns the folder of the Tune experiment to run: `exp_dir`, or on --extend its next
    extension `exp_dir/extend-N` (datavsmath.sweeps.experiment_layout.next_extension), which gets its own spec."""
    if options.resume:
        return exp_dir
    if options.extend:
        part = storage.join(exp_dir, next_extension(exp_dir))
        storage.write_text(storage.join(part, SPEC_FILE), dump_spec(spec))
        return part
    if options.overwrite and storage.exists(exp_dir):
        _clear_folder(exp_dir)  # check_experiment let it through: an experiment of ours, or an empty folder
    storage.write_text(storage.join(exp_dir, SPEC_FILE), dump_spec(spec))
    return exp_dir


@dataclass
class Claim:
    """An experiment this driver owns (claim_experiment): where it is, where the data is,
    the lock and whether this run has started it anew (written its spec).

    data: the dataset as found before Ray starts (find_data): for the IDX datasets the
    verified folder, read later in a thread; a table or image folder is read at once."""

    experiment_dir: str
    data: FoundData
    holder: lock.Holder | None
    started: bool = False
    part_dir: str | None = None  # the Tune experiment this run writes: experiment_dir or an extension


@contextmanager
def _locked(folder: Path | str, log: Callable[[str], None]) -> Iterator[lock.Holder]:
    holder = lock.acquire(folder, log=log)  # LockError, a SweepError
    try:
        yield holder
    finally:
        lock.release(folder, holder)


def _delete_quietly(location: str) -> None:
    try:
        fs, inner = storage.open_location(location)
        fs.delete_file(inner)
    except OSError:  # gone already, or the store cannot be reached: nothing more to do
        pass


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty: trials, or another driver's lock by now
        pass


@contextmanager
def claim_experiment(spec: Spec, *, options: SweepOptions, log: Callable[[str], None] = print) -> Iterator[Claim]:
    """Check every input without writing anything (the name, the storage and what is there,
    --address, the data), then own the experiment for the duration of the block.

    Local storage: the experiment folder is created and locked (sweeps/lock.py) before Ray
    starts, and checked again under the lock. When the block ends, however it ends, the lock
    is released and, if Tune never started there (no tuner.pkl), what this run wrote is
    removed again: its spec.yaml, and the folder when empty and this run created or cleared it.
    URI storage: the same, with the lock an object in the bucket (sweeps/lock.py) and no folder.
    Raises SweepError (or SpecError, DataNotFoundError, DatasetError) before anything is written.
    """
    exp_dir = check_experiment(spec, options=options)
    check_address(options.address)
    found = find_data(spec, options=options)  # checksums (no torch), or a user's file read and checked
    claim = Claim(experiment_dir=exp_dir, data=found, holder=None)
    if storage.is_uri(exp_dir):
        empty = _entries(exp_dir) in (None, [])
        with _locked(exp_dir, log) as holder:
            claim.holder = holder
            check_experiment(spec, options=options, holder=holder, empty_ok=empty)
            try:
                yield claim
            finally:
                part = claim.part_dir or exp_dir
                if claim.started and not is_resumable(part):
                    _delete_quietly(storage.join(part, SPEC_FILE))
        return
    folder = Path(exp_dir)
    empty = not folder.exists() or _entries(exp_dir) == []  # the first look let it through
    # Ours to remove again: a folder this run creates, or one holding nothing but the lock of
    # a dead driver (a start that was killed).
    created = not folder.exists() or (empty and (folder / lock.LOCK_FILE).exists())
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise SweepError(f"experiment folder {exp_dir} cannot be created: {exc.strerror}") from exc
    try:
        with _locked(folder, log) as holder:
            claim.holder = holder
            # What is there may have changed since the first look: another driver may have been quicker.
            check_experiment(spec, options=options, holder=holder, empty_ok=empty)
            try:
                yield claim
            finally:
                part = claim.part_dir or exp_dir
                if claim.started and not is_resumable(part):
                    (Path(part) / SPEC_FILE).unlink(missing_ok=True)
                    if part != exp_dir:
                        _remove_if_empty(Path(part))
    finally:
        if created or claim.started:
            _remove_if_empty(folder)
