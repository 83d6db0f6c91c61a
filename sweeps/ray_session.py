"""The Ray session of a sweep: the cluster address checked before Ray starts, ray.init with
the workers' environment, and Ray shut down when the sweep ends however it ends (a reaper
process clears what Ray leaves behind a driver that was killed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from datavsmath.sweeps import resources
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.spec import SpecError
from datavsmath.trainables.allocator import GLIBC_TUNABLES_ENV, worker_glibc_tunables
from datavsmath.trainables.checks import Interval, check_int, echo
from datavsmath.trainables.faults import FAULT_ENV

DASHBOARD_HOST = "127.0.0.1"  # never expose the dashboard: Ray has no authentication
PORT_RANGE = Interval(1, 65535)
ADDRESS_PROBE_S = 5.0
# Ray tries an unanswering GCS 20 times for ~35 s each (a silent port held a driver for more
# than 400 s). One try with a 5 s connect timeout gives up in 16 s (measured on a port that
# accepts and never answers); a user's own values of these variables win. Set before ray is
# imported: Ray reads them then (set after, ray.init took 41 s).
CONNECT_ENV = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "5"}
REAPER_WAIT_S = 10.0  # a scan of /proc takes milliseconds
# What every trial imports (ray.tune ~0.8 s, scikit-learn's trees ~1.1 s, ~190 MB): an
# embedded Ray's workers import it before they take work, so a worker started ahead of a
# trial (prestart_workers) runs it at once. torch (~1.6 s, ~470 MB) is left to the net trials.
WORKER_PRELOAD = ("datavsmath.trainables.trainable", "sklearn.ensemble")
# Idle workers that wait for the next call, at most: each holds ~260 MB, and one saves ~2 s
# of a call, which matters for small sweeps only.
PRESTART_MAX = 4
# Ray keeps a prestarted worker this long; without a keep-alive its idle-worker reaper took
# one of the two waiting in half of the later calls (12 calls, 2026-12-06).
PRESTART_KEEP_ALIVE_S = 600


def _split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPV6]:PORT` or `ray://HOST:PORT` -> (host, port); else SpecError."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port_text = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if "://" in rest or not sep or not host or not port_text.isdigit():
        raise SpecError(f"--address must be auto, local, HOST:PORT or ray://HOST:PORT, got {echo(address)}")
    try:
        port = check_int("--address port", int(port_text), PORT_RANGE)
    except ValueError as exc:
        raise SpecError(str(exc)) from exc
    return host, port


def check_address(address: str | None) -> None:
    """An existing cluster's HOST:PORT must accept a TCP connection within ADDRESS_PROBE_S;
    "auto" is left to Ray, whose wait _init_ray bounds. None and "local" start Ray here."""
    if address in (None, "local", "auto"):
        return
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=ADDRESS_PROBE_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SweepError(f"--address {address}: no Ray cluster there: a TCP connection to {host}:{port} failed "
                         f"({reason}, {ADDRESS_PROBE_S:g} s limit); start one with `ray start --head`, or give "
                         f"the address that `ray status` prints") from exc


def _worker_env() -> dict[str, str]:
    """Workers' environment variables: one malloc arena (trainables/allocator.py says why)
    and the test-only faults."""
    env = {k: os.environ[k] for k in (FAULT_ENV,) if k in os.environ}
    env[GLIBC_TUNABLES_ENV] = worker_glibc_tunables(os.environ.get(GLIBC_TUNABLES_ENV))
    return env


def _runtime_env(env: Mapping[str, str], py_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job's runtime_env, which reaches every node: `env` and the spec's `py_modules` (a
    user's model code, which Ray ships to every node)."""
    out: dict[str, Any] = {"env_vars": dict(env)}
    if py_modules:
        out["py_modules"] = list(py_modules)
    return out


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` set inside the block, as it was after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _ray_leaves_sigterm_alone() -> Iterator[None]:
    """ray.init without its driver SIGTERM handler (sys.exit, installed first thing in
    ray.init through ray._private.utils.set_sigterm_handler; Ray 2.60 has no option for it).

    Its SystemExit lands anywhere in ray.init's imports: it hung drivers on the import lock
    (see _interrupts_deferred) and was lost when it landed in importlib's lock callback.
    The caller's handler stays in place instead."""
    import ray._private.utils as ray_utils

    install = getattr(ray_utils, "set_sigterm_handler", None)
    if install is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = install


def _init_ray(options: SweepOptions, *, py_modules: tuple[str, ...] = ()) -> Any:
    """ray.init for this sweep; returns Ray's context. Keeps the caller's SIGTERM handler:
    ray.init replaces it (and Ray's C++ core turns SIGTERM into an abort, exit -6)."""
    import ray

    # Per-epoch checkpoints force a state snapshot each; that is the point, not a warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    address = options.address or "local"
    in_main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if in_main else None
    env = _worker_env()
    # An embedded Ray's workers inherit the environment of the processes ray.init starts, and
    # without a job runtime_env the workers prestart_workers starts have the runtime env of
    # Tune's trial actors, so trials take them. A cluster's nodes, and py_modules, need it.
    inherited = options.embedded and not py_modules
    runtime_env = None if inherited else _runtime_env(env, py_modules)
    # Only a Ray started here takes a system config; its workers hold the trial's imports
    # before they take work, so those started ahead (prestart_workers) run a trial at once.
    # Ray's own prestart of a first driver's workers is off: they lack the runtime env of
    # Tune's trial actors, so no trial could take them, and their imports held the CPUs the
    # first trials needed.
    system = ({"preload_python_modules": list(WORKER_PRELOAD), "prestart_worker_first_driver": False}
              if address == "local" else None)
    try:
        with _ray_leaves_sigterm_alone(), _environ(env if inherited else {}):
            # "local" starts a fresh embedded Ray: never join a stray cluster found on this machine.
            return ray.init(address=address, include_dashboard=options.dashboard, dashboard_host=DASHBOARD_HOST,
                            log_to_driver=options.verbose > 1, runtime_env=runtime_env, _system_config=system)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        if address == "local":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        probed = "" if address == "auto" else "the port takes connections, but "  # check_address tried it
        raise SweepError(f"--address {address}: {probed}Ray could not connect to a cluster there ({first})") from exc
    finally:
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


# Started with `python -c`: stdlib only, so it costs a few MB. Its stdin is a pipe whose
# other end only the driver holds, so the read returns once the driver is gone, however it
# ended; then it SIGKILLs every process with a file open in a Ray session folder of the
# driver (Ray names them session_<date>_<time>_<usec>_<driver pid>).
_REAPER = """\
import os, re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the driver's to handle
sys.stdin.buffer.read()
driver = int(sys.argv[1])
session = re.compile(rf"/session_[^/]*_{driver}/")
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid in (driver, os.getpid()):
        continue
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        if any(session.search(os.readlink(f"/proc/{pid}/fd/{fd}")) for fd in fds):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


def _start_reaper() -> subprocess.Popen | None:
    """A process that outlives the driver and kills the Ray processes it leaves (Linux).

    The kernel kills the raylet and the GCS with the driver that started them, but after a
    SIGKILL of the driver (or a Ctrl-C inside ray.init) the raylet's dashboard and
    runtime-env agents wait 60 s on the dead GCS (ray/_private/utils.py
    publish_error_to_driver) before they exit."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid())],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def ray_session(options: SweepOptions, *, py_modules: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """Ray for the duration of the block; yields the dashboard URL ({"dashboard": ...}).

    A Ray this process starts (embedded, or connected to --address) is shut down when the
    block ends, however it ends, ray.init included; a Ray the caller had already started is
    left to it. An embedded Ray's processes go with the driver even when it is killed."""
    import ray

    owner = not ray.is_initialized()
    reaper = _start_reaper() if owner and options.embedded else None
    try:
        if owner:
            context = _init_ray(options, py_modules=py_modules) if py_modules else _init_ray(options)
            url = getattr(context, "dashboard_url", None) or ""
        else:  # a Ray already up (the caller's, or kept by datavsmath.sweep): no second ray.init
            url = _dashboard_url()
        yield {"dashboard": f"http://{url}" if url and not url.startswith("http") else url}
    finally:
        if owner:
            ray.shutdown()
        if reaper is not None:
            assert reaper.stdin is not None
            reaper.stdin.close()  # the reaper clears what shutdown left, then exits
            try:
                reaper.wait(timeout=REAPER_WAIT_S)
            except subprocess.TimeoutExpired:  # it goes on its own once its scan ends
                pass


def _dashboard_url() -> str:
    """The dashboard address of the Ray this process is connected to ("" when unknown)."""
    import ray._private.worker as ray_worker

    node = getattr(ray_worker, "_global_node", None)
    return str(getattr(node, "webui_url", "") or "")


def idle_workers() -> set[int] | None:
    """The pids of this process's Ray node's idle workers (the raylet's children titled
    ray::IDLE, read from /proc); None where that cannot be known (not Linux, no local raylet)."""
    import ray._private.worker as ray_worker

    node = getattr(ray_worker, "_global_node", None)
    raylets = getattr(node, "all_processes", {}).get("raylet") if node is not None else None
    if not sys.platform.startswith("linux") or not raylets:
        return None
    raylet = str(raylets[0].process.pid)
    idle = set()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rpartition(")")[2].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0]
        except OSError:  # gone meanwhile
            continue
        if ppid == raylet and title.rstrip() == b"ray::IDLE":
            idle.add(int(pid))
    return idle


def prestart_workers(count: int) -> bool:
    """Ask this node's raylet to start idle workers for this job now, up to `count` (at most
    PRESTART_MAX) waiting ones (Linux only: idle_workers counts them), so that the next
    trials' actors take them instead of starting (and importing) a process each: a later
    datavsmath.sweep of two tiny trials took 3.6 s without, 0.9 s with (benchmarks/bench_api.py).
    tests/datavsmath/test_sweep.py checks that the trials take them.

    Ray 2.60 has no public call for it; this uses the raylet's PrestartWorkers RPC. Returns
    whether it asked and the raylet took the request; when the RPC is gone or refused
    (another Ray version), it warns once and trials start their own workers as before."""
    global _prestart_failed
    waiting = None if _prestart_failed else idle_workers()
    if waiting is None:  # failed before, or each call would add workers that nobody counts
        return False
    count = min(count, PRESTART_MAX) - len(waiting)
    if count < 1:
        return False
    try:
        import ray
        import ray._private.worker as ray_worker
        from ray._common.network_utils import build_address
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

        common: Any = common_pb2  # generated protobuf modules: their names are not typed
        messages: Any = node_manager_pb2
        node = ray_worker.global_worker.node
        if node is None:
            raise RuntimeError("Ray is not initialized")
        channel = init_grpc_channel(build_address(node.node_ip_address, node.node_manager_port))
        try:
            request = messages.PrestartWorkersRequest(
                language=common.PYTHON, job_id=bytes.fromhex(ray.get_runtime_context().get_job_id()),
                runtime_env_info=_trial_runtime_env_info(), num_workers=count,
                keep_alive_duration_secs=PRESTART_KEEP_ALIVE_S)
            node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(request, timeout=5)
        finally:
            channel.close()
        return True
    except Exception as exc:  # noqa: BLE001  (any failure of a private API means: not available)
        _prestart_failed = True
        warnings.warn(f"datavsmath: could not prestart Ray workers ({type(exc).__name__}: {exc}); each sweep's "
                      f"trials start their own processes", RuntimeWarning, stacklevel=2)
        return False


_prestart_failed = False


def _trial_runtime_env_info() -> Any:
    """The runtime env of Tune's trial actors, as Ray's RuntimeEnvInfo: a worker serves only
    actors of its own runtime env, and Tune gives its trial actors one (env_vars such as
    PL_DISABLE_FORK). Taken from Tune's own actor-class cache, so it follows Tune."""
    from ray._private.utils import get_runtime_env_info
    from ray.tune.execution.class_cache import _ActorClassCache

    remote = _ActorClassCache().get(_Probe)
    return get_runtime_env_info(remote._default_options["runtime_env"], is_job_runtime_env=False, serialize=False)


class _Probe:
    """A class for Tune's actor-class cache to wrap (never instantiated)."""


def cluster_nodes() -> list[resources.Node]:
    import ray

    return resources.nodes_from_ray(ray.nodes())
