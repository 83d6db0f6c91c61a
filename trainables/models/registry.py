"""One entry per seed model: every trait the core, the sweeps and the analysis read of it.

Adding a seed model means adding one ``ModelEntry`` to ``SEED_MODELS`` (and its class). The
order of ``SEED_MODELS`` is the talk's order of models (tables, legends). Kept free of heavy
imports: the builder is a "module:Class" path imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

FLAT, IMAGES = "flat", "images"  # the kinds of input rows: (F,) features, (H, W[, C]) images


@dataclass(frozen=True)
class ModelEntry:
    """A seed model's traits.

    builder: "module:Class" under datavsmath.trainables.models, called with the model's checked
    settings; net: a torch network (epochs, validation split, fast paths); gpu: has a GPU path
    (asks for a GPU share on a GPU cluster); pass_param: the setting that counts its passes
    over the data (epochs, rounds, trees), which the cost model multiplies; seconds_per_sample_pass
    and seconds_fixed: single-thread cost constants (sweeps.cost); color: its colour in figures;
    inputs: the input kinds it takes (FLAT, IMAGES); defaults: the talk's hyperparameters.
    """

    name: str
    builder: str
    net: bool
    gpu: bool
    pass_param: str
    seconds_per_sample_pass: float
    seconds_fixed: float
    color: str
    inputs: tuple[str, ...]
    defaults: MappingProxyType[str, Any]


def _entry(name: str, defaults: dict[str, Any], **traits: Any) -> ModelEntry:
    return ModelEntry(name=name, defaults=MappingProxyType(defaults), **traits)


# Cost constants: seconds on one thread, measured on the full-data trials of the 2-core
# development machine (cnn 389 s for 48k rows x 12 epochs, dnn 21 s for 48k x 30, xgb 215 s for
# 60k x 150 rounds, rf 13 s for 60k x 25 trees; benchmarks/README.md); fixed seconds per trial
# (model setup, scoring the test set) from `bench_sweep.py --calibrate`.
# Defaults: the talk's settings (seed text, "The Math"); Keras defaults where the talk relies on them.
SEED_MODELS: MappingProxyType[str, ModelEntry] = MappingProxyType({e.name: e for e in (
    # R randomForest(ntree=25); its other defaults (mtry = sqrt(p), nodesize 1) are sklearn's.
    # rf has no GPU path in scikit-learn.
    _entry("rf", {"n_estimators": 25, "max_features": "sqrt", "max_depth": None},
           builder="trees:RandomForestModel", net=False, gpu=False, pass_param="n_estimators",
           seconds_per_sample_pass=8.9e-6, seconds_fixed=0.0, color="#1F77B4", inputs=(FLAT, IMAGES)),
    # xgb.train(objective multi:softprob, eta .2, max_depth 5, subsample 1, colsample .5, 150 rounds)
    _entry("xgb", {"eta": 0.2, "max_depth": 5, "subsample": 1.0, "colsample_bytree": 0.5,
                   "num_boost_round": 150, "tree_method": "hist"},
           builder="trees:XGBoostModel", net=False, gpu=True, pass_param="num_boost_round",
           seconds_per_sample_pass=2.4e-5, seconds_fixed=1.5, color="#FF7F0E", inputs=(FLAT, IMAGES)),
    # Keras dense net; RMSprop(lr 1e-3, rho .9, eps 1e-7) (torch calls rho "alpha").
    _entry("dnn", {"epochs": 30, "batch_size": 128, "lr": 1e-3, "rho": 0.9, "eps": 1e-7,
                   "dropout1": 0.4, "dropout2": 0.3, "validation_split": 0.2},
           builder="nets:TorchNetModel", net=True, gpu=True, pass_param="epochs",
           seconds_per_sample_pass=1.5e-5, seconds_fixed=0.1, color="#2CA02C", inputs=(FLAT, IMAGES)),
    # Keras conv net; Adadelta(lr 1.0, rho .95, eps 1e-7).
    _entry("cnn", {"epochs": 12, "batch_size": 128, "lr": 1.0, "rho": 0.95, "eps": 1e-7,
                   "dropout1": 0.25, "dropout2": 0.5, "validation_split": 0.2},
           builder="nets:TorchNetModel", net=True, gpu=True, pass_param="epochs",
           seconds_per_sample_pass=6.8e-4, seconds_fixed=1.5, color="#D62728", inputs=(IMAGES,)),
)})
MODEL_NAMES = tuple(SEED_MODELS)  # ("rf", "xgb", "dnn", "cnn")
NET_MODELS = tuple(n for n, e in SEED_MODELS.items() if e.net)
GPU_MODELS = tuple(n for n, e in SEED_MODELS.items() if e.gpu)

