"""One driver per experiment: an exclusive lock file in the experiment directory. No ray.

The file is `<experiment>/driver.lock`, created with os.open(O_CREAT | O_EXCL), so of two
drivers that race for it exactly one creates it, and written once as JSON::

    {"host": "node-1", "pid": 4242, "started": "2026-12-01T08:19:46+00:00"}

`host` is socket.gethostname() of the driver, `pid` its process id, `started` when it took
the lock (ISO 8601, UTC, whole seconds). Readers (`datavsmath status`) may parse it on
their own: the format is this paragraph.

The driver removes the file on every exit it lives through (the end, an error, Ctrl-C,
SIGTERM). After a SIGKILL or a crash the file stays: the next driver on the same host sees
that the pid is gone (or belongs to a process started after the lock) and takes the lock
over, with a note. A lock of another host is never taken over, since this host cannot
tell whether that driver still runs; the message says which file to delete once it is
known to be gone.

On URI storage (s3://, gs://) the same file, in the same format, is an object of the bucket.
An object store has no create-if-absent that pyarrow offers, so a driver takes it in steps,
each a whole-object PUT, GET, LIST or DELETE (S3 is strongly consistent for all of them):
it writes a claim `driver.lock.claim-<host>-<pid>-<nonce>` beside it, lists the claims, and
goes on only if no other live driver's claim is there; then it reads `driver.lock` again,
writes it when it is absent (or stale, as above), and deletes its claim. Of two drivers that
start at once, the later claim always sees the earlier, and the earlier one, if it missed
the later claim, then finds its lock (or both give up: "try again"): never both hold it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from datavsmath.sweeps.experiment_layout import LOCK_FILE
from datavsmath.sweeps.options import SweepError
from datavsmath.trainables import storage
from datavsmath.trainables.checks import echo

# A lock file is created empty and written a moment later: a reader that finds it empty or
# cut short looks again this many times, 50 ms apart, before calling it damaged.
READ_TRIES = 20
READ_PAUSE_S = 0.05
# A process that started this long after its lock was taken reuses a dead holder's pid. The
# slack covers the lock's whole seconds, /proc/stat's whole-second boot time and clock steps:
# a live driver is never taken for a stale one unless the clock jumped ahead by over a minute.
START_SLACK_S = 60.0
CLAIM_PREFIX = f"{LOCK_FILE}.claim-"  # URI storage: a driver's claim while it takes the lock


class LockError(SweepError):
    """The experiment is held by another driver, or its lock file cannot be used; the
    message names the holder (host, pid) or the file."""


@dataclass(frozen=True)
class Holder:
    """Who holds an experiment: host name, process id, and when it took the lock (ISO 8601)."""

    host: str
    pid: int
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} (started {self.started})"


def lock_path(exp_dir: str | Path) -> Path:
    """The lock file of a local experiment (lock_location: of any)."""
    return Path(exp_dir) / LOCK_FILE


def lock_location(exp_dir: str | Path) -> str:
    """`<exp_dir>/driver.lock`, a local path or a URI."""
    return storage.join(str(exp_dir), LOCK_FILE) if storage.is_uri(exp_dir) else str(lock_path(exp_dir))


def _parse(text: str, *, path: Path | str) -> Holder:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        host, pid, started = data.get("host"), data.get("pid"), data.get("started")
        if isinstance(host, str) and type(pid) is int and pid > 0 and isinstance(started, str):  # not a bool
            return Holder(host=host, pid=pid, started=started)
    raise LockError(f"lock file {path} is not a datavsmath lock ({echo(text)}); if no sweep runs this "
                    f"experiment, delete it")


def _read(path: Path | str) -> str | None:
    try:
        if storage.is_uri(path):
            return storage.read_text(path)
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):  # no folder, no lock
        return None
    except OSError as exc:
        raise LockError(f"lock file {path} cannot be read: {exc.strerror or exc}") from exc


def lock_holder(exp_dir: str | Path) -> Holder | None:
    """The holder that `<exp_dir>/driver.lock` names, or None when there is no lock file.

    Raises LockError when the file stays unreadable (a lock being written is waited for,
    up to READ_TRIES x READ_PAUSE_S = 1 s)."""
    path = lock_location(exp_dir)
    for _ in range(READ_TRIES - 1):
        text = _read(path)
        if text is None:
            return None
        try:
            return _parse(text, path=path)
        except LockError:
            time.sleep(READ_PAUSE_S)
    text = _read(path)
    return None if text is None else _parse(text, path=path)


def _process_start(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), from Linux's /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        btime = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: starttime


def holder_alive(holder: Holder, *, host: str | None = None) -> bool | None:
    """Whether the holder's process still runs: None when it is on another host than
    `host` (default: this one), which cannot be checked from here.

    A pid that exists but whose process started after the lock was taken is a reused pid:
    not alive."""
    if holder.host != (host or socket.gethostname()):
        return None
    try:
        os.kill(holder.pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        pass
    except (OverflowError, OSError):
        return False
    started = _process_start(holder.pid)
    try:
        locked = datetime.fromisoformat(holder.started).timestamp()
    except ValueError:
        return True
    return started is None or started <= locked + START_SLACK_S


def _create(path: Path, holder: Holder) -> bool:
    """Create the lock file with `holder` in it; False when one exists already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, json.dumps(asdict(holder)).encode("utf-8"))  # one write: a few dozen bytes
    except BaseException:  # an empty lock would block the experiment until someone deletes it
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return True


def _take_over(path: Path, stale: Holder) -> None:
    """Remove a stale lock, unless another driver replaced it meanwhile (then LockError)."""
    aside = path.with_name(f"{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)  # atomic: of two drivers taking over, one moves the file
    except FileNotFoundError:
        return
    try:
        moved = _parse(aside.read_text(encoding="utf-8", errors="replace"), path=path)
    except LockError:
        moved = None
    if moved == stale:
        aside.unlink()
        return
    try:  # we moved a fresh lock of the driver that took over first: put it back
        os.link(aside, path)
    except FileExistsError:
        pass
    aside.unlink()
    raise LockError(f"experiment {path.parent} is in use: {path.name} changed while taking over the lock of "
                    f"{stale.describe()}; try again")


def _held_message(exp_dir: Path | str, holder: Holder, alive: bool | None) -> str:
    path = lock_location(exp_dir)
    if alive is None:
        return (f"experiment {exp_dir} is in use by the sweep driver {holder.describe()}, which this host "
                f"cannot check; if that driver is gone, delete {path}")
    return (f"experiment {exp_dir} is in use by the sweep driver {holder.describe()}; wait for it to end "
            f"or stop it (its lock: {path})")


def check_free(exp_dir: str | Path, *, me: Holder | None = None) -> Holder | None:
    """Raise LockError when another driver holds `exp_dir` and may still run; return the
    stale holder when its lock is left over from a driver that is gone, else None."""
    holder = lock_holder(exp_dir)
    if holder is None or holder == me:
        return None
    alive = holder_alive(holder)
    if alive is False:
        return holder
    raise LockError(_held_message(exp_dir, holder, alive))


def _claims(exp_dir: str) -> list[tuple[str, Holder | None]]:
    """The claims beside a URI lock: (location, holder; None when unreadable or being written)."""
    fs, inner = storage.open_location(exp_dir)
    found = []
    for info in storage.list_dir(fs, inner) if storage.file_type(fs, inner) != storage.FileType.NotFound else []:
        if info.base_name.startswith(CLAIM_PREFIX):
            location = storage.join(exp_dir, info.base_name)
            try:
                text = _read(location)
                found.append((location, None if text is None else _parse(text, path=location)))
            except LockError:
                found.append((location, None))
    return found


def _delete(location: str) -> None:
    fs, inner = storage.open_location(location)
    try:
        fs.delete_file(inner)
    except FileNotFoundError:
        pass


def _acquire_uri(exp_dir: str, me: Holder, *, log: Callable[[str], None]) -> Holder:
    """acquire on URI storage: claim, list the claims, read the lock, write it (module doc)."""
    location = lock_location(exp_dir)
    stale = check_free(exp_dir)  # a live holder: refused before anything is written
    claim = storage.join(exp_dir, f"{CLAIM_PREFIX}{me.host}-{me.pid}-{os.urandom(4).hex()}")
    try:
        storage.write_text(claim, json.dumps(asdict(me)))
        for other, holder in _claims(exp_dir):
            if other == claim:
                continue
            if holder is not None and holder_alive(holder) is False:
                _delete(other)  # a claim left by a driver killed while it took the lock
                continue
            raise LockError(f"experiment {exp_dir}: another driver is starting on it"
                            + (f" ({holder.describe()})" if holder else "") + "; try again")
        current = check_free(exp_dir)
        if current != stale and current is not None:  # replaced by another stale one meanwhile: start over
            raise LockError(f"experiment {exp_dir}: {location} changed while taking it over; try again")
        storage.write_text(location, json.dumps(asdict(me)))
    except OSError as exc:
        raise LockError(f"lock file {location} cannot be written: {exc}") from exc
    finally:
        try:
            _delete(claim)
        except OSError:
            pass
    if stale is not None:
        log(f"datavsmath: note: took over the lock of {exp_dir} from the sweep driver {stale.describe()}, "
            f"which is no longer running")
    return me


def acquire(exp_dir: str | Path, *, log: Callable[[str], None] = print) -> Holder:
    """Take the lock of `exp_dir` (an existing folder) for this process; returns its holder.

    A stale lock (its pid gone on this host) is taken over, and `log` says so. Raises
    LockError naming the holder when another driver has it. On URI storage the lock is an
    object of the bucket (module doc)."""
    me = Holder(host=socket.gethostname(), pid=os.getpid(),
                started=datetime.now(timezone.utc).replace(microsecond=0).isoformat())
    if storage.is_uri(exp_dir):
        return _acquire_uri(str(exp_dir), me, log=log)
    path = lock_path(exp_dir)
    for _ in range(3):  # each round either creates the file or removes one stale lock
        try:
            if _create(path, me):
                return me
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise LockError(f"experiment folder {exp_dir} is missing") from exc
            raise LockError(f"lock file {path} cannot be created: {exc.strerror}") from exc
        stale = check_free(exp_dir, me=None)
        if stale is not None:
            _take_over(path, stale)
            log(f"datavsmath: note: took over the lock of {exp_dir} from the sweep driver {stale.describe()}, "
                f"which is no longer running")
    raise LockError(f"experiment {exp_dir}: {path} keeps reappearing; another driver is starting on it")


def release(exp_dir: str | Path, holder: Holder) -> None:
    """Remove the lock if it is still `holder`'s (a driver never removes another's lock)."""
    try:
        current = lock_holder(exp_dir)
    except LockError:
        return
    if current != holder:
        return
    if storage.is_uri(exp_dir):
        try:
            _delete(lock_location(exp_dir))
        except OSError:  # the bucket is gone or unreachable: the lock stays, stale, for the next driver
            pass
        return
    lock_path(exp_dir).unlink(missing_ok=True)


@contextmanager
def held(exp_dir: str | Path, *, log: Callable[[str], None] = print) -> Iterator[Holder]:
    """The lock of `exp_dir` for the duration of the block (see `acquire`)."""
    holder = acquire(exp_dir, log=log)
    try:
        yield holder
    finally:
        release(exp_dir, holder)
