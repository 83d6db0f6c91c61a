"""What `datavsmath.sweep` accepts as data and models, turned into a spec's `dataset:` and
`models:` plus the files that hold the in-memory parts.

In-memory inputs are written into the experiment folder's `inputs/` (INPUTS_DIR), each file
named by the sha256 of its content, so that the stored spec names them and the experiment
stands alone: `datavsmath status/report`, `--resume` and `--extend` work on it from the
command line. A DataFrame becomes Parquet (dataset kind `table`), an `(X, y)` pair `.npz`
(kind `arrays`), an estimator instance or a torch factory that cannot be imported by path a
cloudpickle file (datavsmath.trainables.models.user).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.sweeps.experiment_layout import INPUTS_DIR
from datavsmath.sweeps.spec import SpecError
from datavsmath.trainables.checks import check_keys, echo
from datavsmath.trainables.datasets import BUILT_IN, TABLE_FORMATS
from datavsmath.trainables.datasets.common import DatasetError, listed, missing_labels, missing_text
from datavsmath.trainables.models import MODEL_NAMES
from datavsmath.trainables.models.user import MODULE_KEYS, PICKLE_SUFFIX

HASH_CHARS = 16  # of the sha256 in an input file's name
YAML_SCALARS = (str, int, float, bool, type(None))
NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class Inputs:
    """Files to write into the experiment folder: name inside INPUTS_DIR -> bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    # file name -> the argument it holds (data, test, a model's name)
    arguments: dict[str, str] = field(default_factory=dict)

    def add(self, stem: str, suffix: str, content: bytes, *, exp_dir: str) -> str:
        """Register `content`, the argument `stem`; returns the absolute path the spec names it by."""
        name = f"{stem}-{hashlib.sha256(content).hexdigest()[:HASH_CHARS]}{suffix}"
        self.files[name] = content
        self.arguments[name] = stem
        return str(Path(exp_dir) / INPUTS_DIR / name)

    def named(self, message: str) -> str:
        """`message` with each in-memory input named by its argument (`data`, `test`) instead of
        the file it was written to for the run, which the user never named (and which a
        refused run removes again)."""
        for name, argument in self.arguments.items():
            message = message.replace(f"the training file {name}", "the training data")
            message = re.sub(rf"[^\s'\"]*{re.escape(name)}", argument, message)
        return message

    def write(self, exp_dir: str) -> list[Path]:
        """Write the files not already there (same name = same content); returns those written."""
        folder = Path(exp_dir) / INPUTS_DIR
        written = []
        for name, content in self.files.items():
            path = folder / name
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{name}.tmp")
                tmp.write_bytes(content)
                tmp.replace(path)
                written.append(path)
        return written


# --------------------------------------------------------------------------- data

def _is_frame(obj: Any) -> bool:
    import pandas as pd

    return isinstance(obj, pd.DataFrame)


def _frame_bytes(frame: Any) -> bytes:
    frame = frame.rename(columns=str)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _pair_bytes(pair: Any, *, where: str) -> bytes:
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise SpecError(f"{where} must be a DataFrame, a pair (X, y), a built-in name or a path, "
                        f"got {type(pair).__name__}")
    x, y = (np.asarray(a) for a in pair)
    missing = missing_labels(y) if y.ndim == 1 else np.zeros(0)
    if missing.size:
        raise SpecError(f"{where}: " + missing_text(missing.tolist(), len(y), what="y", at="rows"))
    if y.dtype == object:  # labels as text: an .npz holds no pickled objects
        y = y.astype(str)
    if x.dtype == object:
        raise SpecError(f"{where}: X must be a numeric array, got dtype object")
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def _path_config(path: str, *, label: str | None) -> dict[str, Any]:
    """A dataset config for a file or folder path: a table (with `label`), an .npz, an image folder."""
    p = Path(path).expanduser()
    suffixes = [s.lower() for s in p.suffixes]
    if p.is_dir():
        return {"kind": "images", "path": str(p.resolve())}
    if suffixes and suffixes[-1] == ".npz":
        return {"kind": "arrays", "path": str(p.resolve())}
    if any(s in TABLE_FORMATS for s in suffixes):
        if label is None:
            raise SpecError(f"data {path}: a table needs label=, the name of its label column")
        return {"kind": "table", "path": str(p.resolve()), "label": label}
    if not p.exists():
        raise SpecError(f"data must be one of {list(BUILT_IN)}, a table file, an .npz file or an image folder; "
                        f"{path} does not exist")
    raise SpecError(f"data {path}: not a table ({', '.join(TABLE_FORMATS)}), an .npz file or an image folder")


def _part(obj: Any, *, role: str, label: str | None, inputs: Inputs, exp_dir: str) -> tuple[str, str]:
    """(kind, path) of the train or test part: an in-memory one is added to `inputs`."""
    if _is_frame(obj):
        if label is None:
            raise SpecError(f"{role}: a DataFrame needs label=, the name of its label column")
        names = [str(c) for c in obj.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:  # as a CSV's repeated header names are refused
            raise DatasetError(f"{role}: duplicate column names {listed(repeated)}")
        if str(label) not in map(str, obj.columns):
            raise SpecError(f"{role}: the DataFrame has no label column {label!r} (columns: "
                            f"{', '.join(map(str, obj.columns[:5]))}{' ...' if len(obj.columns) > 5 else ''})")
        column = obj.loc[:, [c for c in obj.columns if str(c) == str(label)][:1]].iloc[:, 0]
        missing = missing_labels(column.to_numpy())
        if missing.size:
            raise SpecError(f"{role}: " + missing_text(column.index[missing].tolist(), len(column),
                                                       what=f"label column {label!r}", at="index"))
        return "table", inputs.add(role, ".parquet", _frame_bytes(obj), exp_dir=exp_dir)
    if isinstance(obj, (str, Path)):
        config = _path_config(str(obj), label=label)
        return config["kind"], config["path"]
    return "arrays", inputs.add(role, ".npz", _pair_bytes(obj, where=role), exp_dir=exp_dir)


def dataset_config(data: Any, *, label: str | None, test: Any, test_frac: float | None, inputs: Inputs,
                   exp_dir: str) -> Any:
    """The spec's `dataset:` for `datavsmath.sweep`'s data keywords (see its docstring)."""
    if isinstance(data, str) and data in BUILT_IN:
        if test is not None or test_frac is not None or label is not None:
            raise SpecError(f"data {data!r} is a built-in dataset with its own test set and labels; "
                            "test=, test_frac= and label= are for your own data")
        return data
    if isinstance(data, str) and not Path(data).expanduser().exists() and not Path(data).suffix:
        raise SpecError(f"data must be one of {list(BUILT_IN)}, a table file, an .npz file or an image folder, "
                        f"got {echo(data)}")
    if isinstance(data, (str, Path)) and Path(data).expanduser().is_dir():
        if test is not None:
            raise SpecError("test= is for tables and arrays; an image folder holds its test set as test/")
        folder = _path_config(str(data), label=label)
        return {**folder, **({"test_frac": test_frac} if test_frac is not None else {})}
    kind, path = _part(data, role="data", label=label, inputs=inputs, exp_dir=exp_dir)
    config: dict[str, Any] = {"kind": kind, "path": path}
    if path.startswith(str(Path(exp_dir) / INPUTS_DIR)):  # in memory: named after the experiment, not the file
        config["name"] = Path(exp_dir).name
    if kind == "table":
        config["label"] = label
    if test is not None:
        test_kind, config["test"] = _part(test, role="test", label=label, inputs=inputs, exp_dir=exp_dir)
        if test_kind != kind:
            raise SpecError(f"test must be of the same form as data (both tables or both arrays), got {test_kind} "
                            f"for data of {kind}")
    if test_frac is not None:
        config["test_frac"] = test_frac
    return config


# --------------------------------------------------------------------------- models

def net(factory: Callable[..., Any] | str, *, epochs: int = 10, batch_size: int = 128,
        validation_split: float = 0.2, optimizer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A torch network for `sweep`'s `models`, trained by the project's net trainer.

    Parameters
    ----------
    factory : callable or str
        ``factory(input_shape, n_classes) -> torch.nn.Module``, or its import path
        ``"pkg.mod:make_net"``.
    epochs : int, default 10
        Training epochs (>= 1).
    batch_size : int, default 128
        Rows per batch.
    validation_split : float, default 0.2
        The last share of the training rows held out for validation.
    optimizer : mapping, optional
        ``{name: adam | adamw | sgd | rmsprop | adadelta | adagrad, lr, ...}``; default adam
        with lr 0.001.

    Returns
    -------
    dict
        The model's definition, as a spec's ``models:`` entry holds it; checked when the
        sweep reads it.

    Examples
    --------
    >>> import datavsmath as dvm
    >>> dvm.net("mypkg.nets:small_cnn", epochs=5)
    {'module': 'mypkg.nets:small_cnn', 'epochs': 5, 'batch_size': 128, 'validation_split': 0.2}
    """
    out: dict[str, Any] = {"module": factory, "epochs": epochs, "batch_size": batch_size,
                           "validation_split": validation_split}
    if optimizer is not None:
        out["optimizer"] = dict(optimizer)
    return out


def _import_path(obj: Any) -> str | None:
    """'module:qualname' when `obj` (a class or function) can be imported back by that path;
    the shortest public module that holds it (sklearn.linear_model, not its _logistic)."""
    import importlib

    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    parts = module.split(".")
    candidates = [".".join(parts[:i]) for i in range(1, len(parts)) if not parts[i - 1].startswith("_")]
    for candidate in [*candidates, module]:
        try:
            found: Any = importlib.import_module(candidate)
            for part in qualname.split("."):
                found = getattr(found, part)
        except Exception:  # not there: a longer path, or it travels pickled
            continue
        if found is obj:
            return f"{candidate}:{qualname}"
    return None


def _plain(value: Any) -> bool:
    """Whether `value` is plain YAML data (stored as it is in spec.yaml)."""
    if isinstance(value, YAML_SCALARS):
        return not isinstance(value, float) or value == value
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _changed_params(estimator: Any) -> dict[str, Any] | None:
    """The constructor params that differ from the class's defaults, or None when they are
    not plain YAML data (the instance then travels pickled)."""
    params = estimator.get_params(deep=False)
    try:
        defaults = type(estimator)().get_params(deep=False)
    except Exception:  # a class that needs arguments: every param is stated
        defaults = {}
    changed = {k: v for k, v in params.items() if k not in defaults or not _same(defaults[k], v)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()} if _plain(changed) else None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and the like: compared as different
        return False


def _pickled(obj: Any, *, name: str, inputs: Inputs, exp_dir: str) -> str:
    import cloudpickle

    try:
        content = cloudpickle.dumps(obj)
    except Exception as exc:
        raise SpecError(f"models.{name}: {type(obj).__name__} cannot be pickled ({type(exc).__name__}: {exc}); "
                        "it must be picklable by cloudpickle to reach the workers") from exc
    return inputs.add(name, PICKLE_SUFFIX, content, exp_dir=exp_dir)


def _is_estimator(obj: Any) -> bool:
    return not inspect.isclass(obj) and all(callable(getattr(obj, m, None)) for m in ("fit", "predict_proba"))


def _definition(name: str, value: Any, *, inputs: Inputs, exp_dir: str) -> dict[str, Any] | None:
    """A `models:` definition for a user model, or None for a seed model."""
    if isinstance(value, str):
        if value in MODEL_NAMES:
            if value != name:
                raise SpecError(f"models.{name}: a seed model is named by itself; use {value!r}: {value!r}")
            return None
        raise SpecError(f"models.{name} must be a seed model ({', '.join(MODEL_NAMES)}), an estimator instance, "
                        f"a torch factory or a definition mapping, got {echo(value)}")
    if _is_estimator(value):
        path, params = _import_path(type(value)), _changed_params(value) if hasattr(value, "get_params") else None
        if path is not None and params is not None:
            return {"estimator": path, "params": params}
        return {"estimator": _pickled(value, name=name, inputs=inputs, exp_dir=exp_dir)}
    if callable(value) and not isinstance(value, Mapping):
        value = net(value)
    if isinstance(value, Mapping):
        out = dict(value)
        if "module" in out and callable(out["module"]):
            out["module"] = _import_path(out["module"]) or _pickled(out["module"], name=name, inputs=inputs,
                                                                   exp_dir=exp_dir)
        if "estimator" in out and _is_estimator(out["estimator"]):
            return {**_definition(name, out.pop("estimator"), inputs=inputs, exp_dir=exp_dir), **out}  # type: ignore[dict-item]
        check_keys(f"models.{name}", out, (*MODULE_KEYS, "estimator", "params", "kind"), error=SpecError,
                   list_allowed=False)
        return out
    raise SpecError(f"models.{name} must be a seed model ({', '.join(MODEL_NAMES)}), an estimator instance, "
                    f"a torch factory or a definition mapping, got {type(value).__name__}")


def _auto_name(value: Any, taken: set[str]) -> str:
    if isinstance(value, str):
        base = value
    elif _is_estimator(value):
        base = type(value).__name__.lower()
    else:
        target = value.get("module") if isinstance(value, Mapping) else value
        base = getattr(target, "__name__", "net")
    base = NAME_CHARS.sub("_", base).strip("_") or "model"
    base = base if base[0].isalpha() else f"m_{base}"
    name, k = base[:40], 2
    while name in taken:
        name, k = f"{base[:40]}_{k}", k + 1
    return name


def model_entries(models: Any, *, inputs: Inputs, exp_dir: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(the model axis, the spec's `models:`) for `models=`: a mapping name -> model, or a
    list of models named after themselves (seed names; an estimator's class name, lower
    case; a factory's function name)."""
    pairs: list[tuple[Any, Any]]
    if isinstance(models, (str, Mapping)) and not (isinstance(models, Mapping) and _looks_like_definition(models)):
        pairs = [(models, models)] if isinstance(models, str) else list(models.items())
    else:
        items = models if isinstance(models, (list, tuple)) else [models]
        taken: set[str] = set()
        pairs = []
        for value in items:
            name = _auto_name(value, taken)
            taken.add(name)
            pairs.append((name, value))
    axis, definitions = [], {}
    for name, value in pairs:
        if not isinstance(name, str):
            raise SpecError(f"models: a model name must be a string, got {echo(name)}")
        axis.append(name)
        definition = _definition(name, value, inputs=inputs, exp_dir=exp_dir)
        if definition is not None:
            definitions[name] = definition
    return axis, definitions


def _looks_like_definition(value: Mapping) -> bool:
    return any(key in value for key in ("module", "estimator"))
