"""`datavsmath.sweep` and `datavsmath.plan`: a sweep from Python, persisted as the CLI persists it,
returning Results; its plan without running it."""

from __future__ import annotations

import inspect
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from datavsmath._execute import check_flags, execute
from datavsmath._inputs import Inputs, dataset_config, model_entries
from datavsmath._notebook import NotebookProgress, in_notebook
from datavsmath._plan import Plan, make_plan
from datavsmath._results import Results, TrialsError
from datavsmath._session import keep_warm, preserved, ray_stack
from datavsmath.sweeps.experiment_layout import (
    INPUTS_DIR,
    SPEC_FILE,
    experiment_path,
    is_resumable,
    read_stored_spec,
    resume_command,
)
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.ownership import check_experiment
from datavsmath.sweeps.safe_yaml import read_yaml
from datavsmath.sweeps.spec import GRID_AXES, Spec, SpecError
from datavsmath.sweeps.validation import DEFAULT_MAX_TRIALS, check_experiment_name, parse_spec, resolve_spec_path
from datavsmath.trainables import storage
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.datasets import DatasetError
from datavsmath.trainables.datasets.peek import Peek, peek_dataset
from datavsmath.trainables.models.user import is_pickled

# Spec keys taken as keywords as they are (YAML values), besides the data, models and axes.
SPEC_KEYWORDS = ("description", "grids", "include", "overrides", "resources", "gpu_share", "max_failures",
                 "checkpoint_period_s", "dataset", "py_modules", "transition", "confusion", "repair_model",
                 "audit_frac", "vote_k", "damage_test")
# The axes' values when a sweep names no spec and leaves them out: all data, clean labels (not
# the spec's AXIS_DEFAULTS, the value a trial's config may leave out).
OMITTED_AXES = {"sample_frac": [1.0], "damage_frac": [0.0], "damage_mode": [NO_DAMAGE]}
# sweep() always runs and returns Results; what would run is plan()'s.
DRY_RUN_IS_PLAN = ("dry_run=True: sweep runs; datavsmath.plan(...) takes the same arguments and returns what would "
                   "run (its .text is the dry run)")


def _python(value: Any) -> Any:
    """A numpy scalar (np.int64(2), np.float32(0.1)) as the Python number it is; else `value`."""
    import numpy as np

    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(str(value))  # np.float32(0.1) is 0.1, not 0.10000000149011612
    return value.item() if isinstance(value, np.generic) else value


def _listed(value: Any) -> Any:
    """A scalar axis value as a one-value list; lists, tuples and arrays as lists of Python values."""
    value = _python(value)
    if isinstance(value, (str, int, float)):
        return [value]
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    return [_python(v) for v in value] if isinstance(value, (Sequence, tuple)) else value


def _seeds(value: Any) -> Any:
    """seeds=N is the first N seeds, 0..N-1; a list is the seeds themselves."""
    value = _python(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SpecError(f"seeds must be a number of seeds >= 1 or a list of seeds, got {value}")
        return list(range(value))
    return _listed(value)


def _base(spec: str | Path | Mapping | None) -> tuple[dict[str, Any], str, str, Path | None]:
    """(the spec's keys, its source, its default name, the folder its paths resolve against)."""
    if spec is None:
        return {}, "<sweep>", time.strftime("sweep-%Y%m%d-%H%M%S"), None
    if isinstance(spec, Mapping):
        return dict(spec), "<sweep>", "sweep", None
    path = resolve_spec_path(spec)
    return read_yaml(path), str(path), path.stem, path.resolve().parent


def build_spec(*, data: Any, label: str | None, test: Any, test_frac: float | None, models: Any,
               axes: Mapping[str, Any], seeds: Any, spec: Any, name: str | None, keys: Mapping[str, Any],
               report: Any, storage_path: str, max_trials: int | None) -> tuple[Spec, Inputs, str, bool]:
    """(the validated Spec, the in-memory inputs to write, the experiment folder, whether the
    spec differs from its file) from sweep()'s keywords; SpecError as the CLI words it."""
    raw, source, default_name, base_dir = _base(spec)
    exp_name = check_experiment_name(name if name is not None else raw.get("name", default_name),
                                     field="name" if name is None else "--name")
    exp_dir = experiment_path(storage_path, exp_name)
    inputs = Inputs()
    given = {k: v for k, v in keys.items() if v is not None}
    given.update({a: _listed(v) for a, v in axes.items() if v is not None})
    if seeds is not None:
        given["seeds"] = _seeds(seeds)
    if isinstance(report, Mapping):
        given["report"] = dict(report)
    if data is not None:
        if "dataset" in given:
            raise SpecError("give data= or dataset=, not both")
        given["dataset"] = dataset_config(data, label=label, test=test, test_frac=test_frac, inputs=inputs,
                                          exp_dir=exp_dir)
    elif label is not None or test is not None or test_frac is not None:
        raise SpecError("label=, test= and test_frac= describe data=; give data too")
    if models is not None:
        axis, definitions = model_entries(models, inputs=inputs, exp_dir=exp_dir)
        given.setdefault("model", axis)
        if definitions:
            given["models"] = definitions
    if spec is None and "grids" not in given and "include" not in given:
        given = {**{a: v for a, v in OMITTED_AXES.items()}, **given}
    if spec is None:
        given.setdefault("name", exp_name)
    if inputs.files and storage.is_uri(storage_path):
        raise SpecError(f"storage {storage_path}: in-memory data and models are written into the experiment "
                        "folder, which must be local; give a local storage, or files and import paths")
    merged = {**raw, **given}
    try:
        parsed = parse_spec(merged, source=source, default_name=default_name, max_trials=max_trials,
                            base_dir=base_dir)
    except SpecError as exc:
        text = str(exc)
        raise (exc if source == "<sweep>" or text.startswith("spec ") else SpecError(f"spec {source}: {text}")) from exc
    changed = bool(given) and spec is not None
    return parsed, inputs, exp_dir, changed


def _cleanup(written: list[Path], *, exp_dir: str, created: bool) -> None:
    """Remove the inputs this call wrote when the experiment did not start (nothing to resume)."""
    if is_resumable(exp_dir):
        return
    for path in written:
        path.unlink(missing_ok=True)
    for folder in (Path(exp_dir) / INPUTS_DIR, *([Path(exp_dir)] if created else [])):
        try:
            folder.rmdir()
        except OSError:  # not empty: another run's inputs, or the experiment's files
            pass


def _peek_unwritten(spec: Spec, *, inputs: Inputs, exp_dir: str) -> Peek | None:
    """The sizes of in-memory data that a dry run does not write into the experiment: read
    from a temporary copy of its files. None when the dataset is on disk already."""
    folder = str(Path(exp_dir) / INPUTS_DIR)
    config = dict(spec.dataset)
    unwritten = {key: Path(config[key]).name for key in ("path", "test")
                 if isinstance(config.get(key), str) and config[key].startswith(folder)}
    if not unwritten:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for key, name in unwritten.items():
            (Path(tmp) / name).write_bytes(inputs.files[name])
            config[key] = str(Path(tmp) / name)
        return peek_dataset(config)


def sweep(data: Any = None, *, label: str | None = None, test: Any = None, test_frac: float | None = None,
          models: Any = None, model: Any = None, sample_frac: Any = None, damage_frac: Any = None,
          damage_mode: Any = None, repair: Any = None, seeds: Any = None, spec: str | Path | Mapping | None = None,
          name: str | None = None, description: str | None = None, grids: Any = None, include: Any = None,
          overrides: Mapping | None = None, resources: Mapping | None = None, gpu_share: float | None = None,
          max_failures: int | None = None, checkpoint_period_s: float | None = None, report: Any = True,
          dataset: Any = None, py_modules: Any = None, transition: Any = None, confusion: Mapping | None = None,
          repair_model: Mapping | None = None, search: Mapping | None = None, curve: str | None = None,
          audit_frac: float | None = None, vote_k: int | None = None, damage_test: bool | None = None,
          storage: str = "results", address: str | None = None,
          data_dir: str | None = None, download: bool = True, dry_run: bool = False, resume: bool = False,
          retry_errored: bool = False, overwrite: bool = False, extend: bool = False, rerun_changed: bool = False,
          max_trials: int = DEFAULT_MAX_TRIALS, dashboard: bool = True, live: bool = True,
          live_every: float | None = None, verbose: int = 1, raise_on_error: bool = False) -> Results:
    """Run a sweep: every combination of the axes is one Ray Tune trial.

    The sweep is persisted as the command line persists it (``datavsmath sweep``): the
    experiment folder ``<storage>/<name>`` holds its spec, Tune's files and the tidy results.
    The first call starts an embedded Ray (or connects to `address`) that later calls reuse;
    `shutdown` stops it.

    Parameters
    ----------
    data : DataFrame, (X, y), str or Path, optional
        The data, one of: a pandas DataFrame with `label` its label column (features: every
        other numeric column); a pair ``(X, y)`` of arrays, X (N, F) features or (N, H, W) /
        (N, H, W, C) images (uint8, or floats in [0, 1]), y (N,) labels of any sortable type;
        a built-in name ("fashion_mnist", "mnist"); a path (a CSV / Parquet table with
        `label`, an .npz of x and y, an image folder). Default: the spec's `dataset`, else
        Fashion-MNIST.
    label : str, optional
        The label column of a table.
    test : same forms as `data`, optional
        The test set; else `test_frac`.
    test_frac : float, optional
        The share of `data` held out as the test set (default 0.2, stratified, seeded).
    models : mapping or list, optional
        name -> model, or a list (named after the models): a seed model name ("rf", "xgb",
        "dnn", "cnn"); a scikit-learn-compatible estimator instance (cloned for every trial,
        given the trial's n_jobs, and its seed as random_state when that is None); a torch
        factory ``(input_shape, n_classes) -> nn.Module`` or ``net(factory, ...)``; a spec's
        definition mapping. An estimator whose class imports by path and whose params are
        plain values is stored as that path and params; otherwise it, and any factory that
        does not import by path (a notebook's function or lambda), is pickled with
        cloudpickle into the experiment's inputs/ folder.
    model, sample_frac, damage_frac, damage_mode, repair : value or list, optional
        The axes: model (default: the models' names), sample_frac in (0, 1] (default 1.0),
        damage_frac in [0, 1] (default 0.0), damage_mode (none, random, constant, matrix,
        confusion; default none), repair (none, prune, relabel, audit, vote; default none).
    seeds : int or list of int, optional
        A number N (seeds 0..N-1) or a list (default [0]).
    spec : str, Path or mapping, optional
        A shipped spec's name, a YAML file or a mapping: the keywords given override its
        keys, so ``sweep(spec="size")`` runs what ``datavsmath sweep size`` runs.
    name : str, optional
        The experiment's name (default: the spec's, else sweep-<date>-<time>).
    description, grids, include, overrides, resources, gpu_share, max_failures : optional
        The spec keys of the same names (docs/specs.md), as are the next ones; max_failures
        defaults to 2.
    checkpoint_period_s, dataset, py_modules, transition, confusion, repair_model : optional
        Spec keys.
    search, audit_frac, vote_k, damage_test : optional
        Spec keys; search is ``{kind: grid | adaptive, target, tolerance, budget}``.
    report : bool or mapping, default True
        The spec's report settings when a mapping; False writes no report.
    curve : str, optional
        The report's learning-curve family (auto, pow3, ...; default auto).
    storage : str, default "results"
        The folder (or URI) that holds the experiment folder.
    address, data_dir, download, resume, retry_errored, overwrite, extend, rerun_changed, max_trials : optional
        The command line's options of the same names (``--address``, ``--resume``, ...).
    dry_run : bool, default False
        Not a run: True raises SpecError that names `plan`, which takes the same arguments
        and returns what would run (its ``text`` is the command line's ``--dry-run``).
    dashboard, live, live_every, verbose : optional
        Ray's dashboard, the live report and how often it is rewritten, and how much is
        printed (0, 1, 2 as ``-v``).
    raise_on_error : bool, default False
        Raise TrialsError when trials errored (by default they are in Results.errors).

    Returns
    -------
    Results
        The experiment's results (always: `plan` says what would run).

    Raises
    ------
    SpecError
        Bad input (a ValueError), with the command line's message, before anything runs.
    SweepError
        The run cannot go on (a RuntimeError): the experiment's lock is held, no node fits a
        request, the cluster or the storage cannot be reached.
    DataNotFoundError
        Missing data (a FileNotFoundError).
    TrialsError
        With ``raise_on_error=True``, when trials errored.
    KeyboardInterrupt
        When interrupted; the experiment is then resumable (``resume=True``, or the command
        in the message).

    Examples
    --------
    >>> import datavsmath as dvm
    >>> results = dvm.sweep(df, label="target", models=["rf", "xgb"],
    ...                     sample_frac=[0.25, 0.5, 1.0], seeds=3)  # doctest: +SKIP
    >>> results.table("acc")  # doctest: +SKIP
    """
    if dry_run:
        raise SpecError(DRY_RUN_IS_PLAN)
    found = _call(dict(locals()), planning=False)
    assert isinstance(found, Results)
    return found


def plan(data: Any = None, **keywords: Any) -> Plan:
    """What `sweep` would run with these arguments, without running it.

    Nothing is written and Ray is not started; the checks that the run makes before its
    first trial are made (the spec, the data's header or listing, the flags, the resource
    requests on this machine).

    Parameters
    ----------
    data : optional
        As `sweep`'s.
    **keywords
        `sweep`'s keywords (a run's display options, such as `live` or `verbose`, change
        nothing here).

    Returns
    -------
    Plan
        Its `text` (what ``datavsmath sweep --dry-run`` prints), `cells` (the trials,
        longest first), `seconds` (their estimated compute) and `resources` (each model's
        request).

    Raises
    ------
    TypeError
        For a keyword that `sweep` does not take.
    SpecError, SweepError, DataNotFoundError
        As `sweep` raises them before its first trial.

    Examples
    --------
    >>> import datavsmath as dvm
    >>> p = dvm.plan(spec="smoke")
    >>> len(p.cells), p.text.splitlines()[0]  # doctest: +SKIP
    (8, "spec 'smoke' (...): 8 trials")
    """
    if keywords.get("dry_run"):
        raise SpecError("plan takes no dry_run: it is the dry run")
    bound = inspect.signature(sweep).bind(data, **keywords)
    bound.apply_defaults()
    found = _call(dict(bound.arguments), planning=True)
    assert isinstance(found, Plan)
    return found


def _call(arguments: dict[str, Any], *, planning: bool) -> Results | Plan:
    """The body of `sweep` and `plan` (planning): `arguments` are sweep()'s, by name."""
    a = arguments
    keys = {key: a[key] for key in (*SPEC_KEYWORDS, "search")}
    report = a["report"]
    if a["curve"] is not None and report is not False:
        report = {**(dict(report) if isinstance(report, Mapping) else {}), "curve": a["curve"]}
    axes = {axis: a[axis] for axis in GRID_AXES}
    inputs = Inputs()
    with preserved():
        try:
            parsed, inputs, exp_dir, changed = build_spec(
                data=a["data"], label=a["label"], test=a["test"], test_frac=a["test_frac"], models=a["models"],
                axes=axes, seeds=a["seeds"], spec=a["spec"], name=a["name"], keys=keys, report=report,
                storage_path=a["storage"], max_trials=a["max_trials"])
            options = SweepOptions(storage=a["storage"], name=a["name"], address=a["address"],
                                   data_dir=a["data_dir"], download=a["download"], resume=a["resume"],
                                   retry_errored=a["retry_errored"], overwrite=a["overwrite"],
                                   dashboard=a["dashboard"], verbose=a["verbose"], extend=a["extend"])
            check_flags(options, rerun_changed=a["rerun_changed"])
            if a["resume"]:
                parsed = _stored_pickles(parsed, inputs=inputs, exp_dir=exp_dir)
            if inputs.files or changed or a["spec"] is None or isinstance(a["spec"], Mapping):
                # The experiment's own spec.yaml is the file that resumes it from the command line.
                parsed = _with_source(parsed, str(Path(exp_dir) / SPEC_FILE))
            if planning:
                return make_plan(parsed, options=options, rerun_changed=a["rerun_changed"],
                                 peek=_peek_unwritten(parsed, inputs=inputs, exp_dir=exp_dir))
            return _run(parsed, inputs=inputs, exp_dir=exp_dir, options=options, rerun_changed=a["rerun_changed"],
                        report=report is not False, live=a["live"], live_every=a["live_every"],
                        raise_on_error=a["raise_on_error"])
        except (SpecError, SweepError) as exc:  # bad input or a run that cannot go on, kept apart
            if in_python(str(exc)) == str(exc):
                raise
            raise (SpecError if isinstance(exc, SpecError) else SweepError)(in_python(str(exc))) from exc
        except DatasetError as exc:  # about data given in memory: named by its argument
            if inputs.named(str(exc)) == str(exc):
                raise
            raise type(exc)(inputs.named(str(exc))) from None


# The CLI's flags that messages name: its switches are this function's keywords =True, its
# other options the keywords of the same name.
_FLAGS = re.compile(r"--(resume|overwrite|retry-errored|extend|rerun-changed|name|storage|max-trials|address)\b")
_SWITCHES = {"resume", "overwrite", "retry_errored", "extend", "rerun_changed"}


def in_python(message: str) -> str:
    """A message of the CLI's as the Python API says it: --resume is resume=True, --name is
    name, ... (a command line it quotes in full, `datavsmath sweep ...`, stays as it is)."""
    if "datavsmath sweep " in message:
        return message

    def keyword(match: re.Match) -> str:
        flag = match.group(1).replace("-", "_")
        return f"{flag}=True" if flag in _SWITCHES else flag

    return _FLAGS.sub(keyword, message)


def _stored_pickles(spec: Spec, *, inputs: Inputs, exp_dir: str) -> Spec:
    """On resume: each model this call pickled runs as the experiment stored it (the pickle in
    its inputs/, and the spec that names it) when the stored spec has a pickled model of that
    name and its other settings are the same; this call's pickle is not written.

    cloudpickle's bytes, which name the file, follow where the code was defined: a function
    keeps its file (a new notebook kernel's cell is another file) and a class defined in
    __main__ gets a random id in every process, so the same net pickled again names another
    file, and the resume was refused as a changed spec."""
    try:
        stored = read_stored_spec(exp_dir).user_models
    except (FileNotFoundError, SpecError):  # nothing to resume: execute says so
        return spec
    models = dict(spec.models)
    for name, model in spec.user_models.items():
        old = stored.get(name)
        if old is not None and is_pickled(model.path) and is_pickled(old.path) and replace(model, path=old.path) == old:
            models[name] = old
            inputs.files.pop(Path(model.path).name, None)
    return replace(spec, models=models)


def _with_source(spec: Spec, source: str) -> Spec:
    return replace(spec, source=source)


def _interrupted(spec: Spec, *, resume: str) -> KeyboardInterrupt:
    return KeyboardInterrupt(f"sweep {spec.name!r} interrupted; continue it with resume=True, or: {resume}")


def _run(spec: Spec, *, inputs: Inputs, exp_dir: str, options: SweepOptions, rerun_changed: bool, report: bool,
         live: bool, live_every: float | None, raise_on_error: bool) -> Results:
    created = not Path(exp_dir).exists()
    written: list[Path] = []
    if inputs.files:
        check_experiment(spec, options=options)  # refuse before writing anything there
        written = inputs.write(exp_dir)
    notebook = in_notebook()
    run_options = options
    if notebook and options.verbose == 1:  # one updating display instead of a line per trial
        run_options = replace(options, verbose=0)
    log = print if options.verbose >= 1 else (lambda line: None)
    try:
        outcome = execute(spec, options=run_options, rerun_changed=rerun_changed, report=report, live=live,
                          live_every=live_every, log=log,
                          on_finished=NotebookProgress(spec.name) if notebook else None,
                          ray_alive=ray_stack(options, py_modules=spec.py_modules))
    except KeyboardInterrupt:
        _cleanup(written, exp_dir=exp_dir, created=created)
        if not is_resumable(exp_dir):
            raise
        # A second Ctrl-C that lands outside the places that note it (the claim's release, a
        # callback): the experiment is resumable all the same, and the message says how.
        raise _interrupted(spec, resume=resume_command(spec, name=options.name or spec.name, options=options)) from None
    except BaseException:
        _cleanup(written, exp_dir=exp_dir, created=created)
        raise
    if outcome.interrupted:  # at once: a second Ctrl-C while workers start would lose this line
        raise _interrupted(spec, resume=outcome.resume)
    if outcome.run is not None:
        keep_warm(options=options, trials=min(outcome.run.trials_at_once, outcome.run.n_trials))
    results = Results(outcome.experiment_dir, frame=outcome.frame,
                      search=outcome.run.search if outcome.run is not None else None)
    if raise_on_error and outcome.n_errored:
        raise TrialsError(f"{outcome.n_errored} trial(s) of {spec.name!r} errored; see Results.errors",
                          results=results)
    return results
