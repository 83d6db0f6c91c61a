"""The talk's two Keras nets (dense "dnn" and conv "cnn") in torch, with a fast in-memory trainer.

Keras behaviour reproduced: Glorot-uniform weights and zero biases; ``validation_split`` holds
out the LAST fraction of the given rows (never trained on, evaluated each epoch); training rows
are reshuffled every epoch and the last partial batch is used; softmax + cross-entropy.

Speed (CPU first): the rows are converted once to a float32 tensor on the device, batches are
index_select-ed with a per-epoch ``torch.randperm`` from a seeded generator (no DataLoader), the
epoch loss is accumulated on the device and read once per epoch, and evaluation runs at a large
batch under ``torch.inference_mode``. The optional speed-ups are one value, ``FastPaths``
(oneDNN dense layers, channels_last cnn, multi-tensor optimizers; all on by default, each
measured in benchmarks/README.md). The allocator policy is the worker process's
(``datavsmath.trainables.allocator``), not the trainer's.
"""

from __future__ import annotations

import copy
import functools
import math
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import (
    CNN_MIN_SIDE,
    CONV_KERNEL,
    PIXEL_MAX,
    POOL,
    check_images,
    check_input_shape,
    check_labels,
    check_n_classes,
    n_features,
    validate_params,
)

# Rows per eval forward pass (measured best on CPU: cnn 128 takes 1.38 s for the 10k test set,
# 256 takes 2.18 s, its 38 MB activations exceeding the 32 MiB mmap threshold; dnn flat).
EVAL_BATCH = {"dnn": 4096, "cnn": 128}
PREDICT_CHUNK = 16384  # rows converted to float at once in predict_proba (bounds memory)
STATE_FORMAT = 1  # bump when the resume-state layout changes
MIN_IMAGE_SIDE = CNN_MIN_SIDE
ONEDNN_OP = "torch.ops.mkldnn._linear_pointwise"


@dataclass(frozen=True)
class FastPaths:
    """Which of the trainer's speed-ups to use; each changes speed only, never the model.

    onednn_dense: dense layers through oneDNN instead of torch's default BLAS (MKL) on x86
        CPUs, where the private op exists and passes its self-check (``onednn_dense_works``).
        MKL's sgemm ran at ~100 GFLOP/s per core on the AMD development machine, oneDNN's
        matmul at ~180-220; same fp32 math, only the summation order differs.
    channels_last: the cnn in NHWC memory format. On CPU (oneDNN) its max-pooling is >10x
        faster than NCHW's and the whole train step measured ~15-30% faster; harmless on CUDA.
    foreach: multi-tensor optimizer kernels, one launch for all parameters instead of one per
        tensor.
    """

    onednn_dense: bool = True
    channels_last: bool = True
    foreach: bool = True


class KerasDropout(nn.Module):
    """Inverted dropout as Keras does it: keep where uniform(0, 1) >= rate, scale by 1/(1-rate).

    Used instead of nn.Dropout because torch's CPU bernoulli_ is ~2.5x slower than rand_like +
    compare. Draws from the global torch RNG (seeded in fit, saved in the resume state).
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = (torch.rand_like(x) >= self.rate).to(x.dtype)
        return x * keep.mul_(1.0 / (1.0 - self.rate))

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


def _onednn_matmul(a: torch.Tensor, b_t: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """a @ b_t.T (+ bias) by oneDNN: a (m, k), b_t (n, k), any strides, bias (n,); returns (m, n)."""
    return torch.ops.mkldnn._linear_pointwise(a, b_t, bias, "none", [], "")


class _OneDNNLinearFn(torch.autograd.Function):
    """y = x @ w.T + b with forward and both backward products computed by oneDNN.

    The transposed operands are passed as strided views (measured faster than copying them).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _onednn_matmul(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_x = _onednn_matmul(grad, weight.t()) if ctx.needs_input_grad[0] else None
        grad_w = _onednn_matmul(grad.t(), x.t()) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _self_check_onednn() -> str | None:
    """Run ``_OneDNNLinearFn`` (forward and both backward products) on tiny tensors against
    F.linear; None when they agree, else the reason (an exception or a mismatch)."""
    gen = torch.Generator().manual_seed(0)  # a private generator: the global RNG is the model's
    x, grad = torch.randn(8, 16, generator=gen), torch.randn(8, 4, generator=gen)
    weight, bias = torch.randn(4, 16, generator=gen), torch.randn(4, generator=gen)
    results = []
    try:
        with torch.inference_mode(False), torch.enable_grad():
            for linear in (_OneDNNLinearFn.apply, F.linear):
                leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
                out = linear(*leaves)
                out.backward(grad)
                results.append([out.detach()] + [t.grad for t in leaves])
    except Exception as exc:  # any failure of a private op means "do not use it"
        return f"{type(exc).__name__}: {exc}"
    for what, got, want in zip(("output", "grad_x", "grad_weight", "grad_bias"), *results):
        if got is None or got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            return f"its {what} differs from F.linear's"
    return None


@functools.cache
def onednn_dense_works() -> bool:
    """Whether this torch install can run the dense layers on oneDNN (checked once per process).

    Only x86 CPUs with mkldnn use the op at all (False elsewhere, silently). There, the op
    must exist and agree with F.linear on a tiny forward and backward (``_self_check_onednn``);
    if it does not, warns once (RuntimeWarning naming the op and the reason) and returns False,
    so the dense layers fall back to F.linear.
    """
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return False
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        reason = _self_check_onednn()
    else:
        reason = "it does not exist in this torch build"
    if reason is not None:
        warnings.warn(f"{ONEDNN_OP} failed its self-check ({reason}); dense layers use F.linear",
                      RuntimeWarning, stacklevel=2)
    return reason is None


class Dense(nn.Linear):
    """nn.Linear (same parameters and state_dict) that runs on oneDNN for fp32 CPU tensors.

    onednn: use oneDNN where it works (``onednn_dense_works``, checked at construction);
    default False, plain nn.Linear. The choice is kept as the attribute ``onednn``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 onednn: bool = False, **factory: Any) -> None:
        super().__init__(in_features, out_features, bias, **factory)
        self.onednn = bool(onednn) and bias and onednn_dense_works()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 2:
            return _OneDNNLinearFn.apply(x, self.weight, self.bias)
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, onednn={self.onednn}"


def dense_net(p: Mapping[str, Any], *, input_shape: tuple[int, ...], n_classes: int,
              onednn: bool = False) -> nn.Sequential:
    """F -> 256 relu -> dropout1 -> 128 relu -> dropout2 -> n_classes logits; input (n, F)
    with F = prod(input_shape) (784 for Fashion-MNIST)."""
    return nn.Sequential(
        Dense(n_features(input_shape), 256, onednn=onednn), nn.ReLU(), KerasDropout(p["dropout1"]),
        Dense(256, 128, onednn=onednn), nn.ReLU(), KerasDropout(p["dropout2"]),
        Dense(128, n_classes, onednn=onednn),
    )


def image_layout(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of an image row shape (H, W) (grayscale, C = 1) or (H, W, C); ValueError for
    other shapes and for sides below MIN_IMAGE_SIDE (what the cnn's convs and pooling need)."""
    if len(input_shape) not in (2, 3) or min(input_shape[:2]) < MIN_IMAGE_SIDE:
        raise ValueError(f"input_shape for cnn must be an image shape (H, W) or (H, W, C) with H, W >= "
                         f"{MIN_IMAGE_SIDE}, got {input_shape}")
    height, width = input_shape[:2]
    return (input_shape[2] if len(input_shape) == 3 else 1), height, width


def conv_net(p: Mapping[str, Any], *, input_shape: tuple[int, ...], n_classes: int,
             onednn: bool = False) -> nn.Sequential:
    """conv32 3x3 relu, conv64 3x3 relu, maxpool 2, dropout1, dense 128 relu, dropout2, logits.

    Input (n, C, H, W) from an image row shape (H, W) or (H, W, C); after the convs and pooling
    the feature map is 64 x (H - 4) // 2 x (W - 4) // 2 (64 x 12 x 12 for 28 x 28). The
    second ReLU is applied after the pooling: relu(maxpool(z)) == maxpool(relu(z)) exactly (also
    the gradients, ReLU being monotonic) and it runs on 4x fewer values.
    """
    channels, height, width = image_layout(input_shape)
    shrink = 2 * (CONV_KERNEL - 1)  # two valid convs
    pooled = ((height - shrink) // POOL) * ((width - shrink) // POOL)
    return nn.Sequential(
        nn.Conv2d(channels, 32, CONV_KERNEL), nn.ReLU(), nn.Conv2d(32, 64, CONV_KERNEL),
        nn.MaxPool2d(POOL), nn.ReLU(), KerasDropout(p["dropout1"]), nn.Flatten(),
        Dense(64 * pooled, 128, onednn=onednn), nn.ReLU(), KerasDropout(p["dropout2"]),
        Dense(128, n_classes, onednn=onednn),
    )


ARCHITECTURES: dict[str, Callable[..., nn.Sequential]] = {"dnn": dense_net, "cnn": conv_net}


def glorot_init_(net: nn.Module) -> nn.Module:
    """Keras defaults: Glorot-uniform kernels and zero biases for every Linear/Conv2d (in place)."""
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


def make_optimizer(model: str, net: nn.Module, p: Mapping[str, Any], *,
                   foreach: bool = True) -> torch.optim.Optimizer:
    """dnn: RMSprop (Keras rho = torch alpha); cnn: Adadelta. Same eps placement as Keras.
    foreach: the multi-tensor kernels (default True)."""
    if model == "dnn":
        return torch.optim.RMSprop(net.parameters(), lr=p["lr"], alpha=p["rho"], eps=p["eps"],
                                   foreach=foreach)
    return torch.optim.Adadelta(net.parameters(), lr=p["lr"], rho=p["rho"], eps=p["eps"],
                                foreach=foreach)


def keras_n_fit(n: int, validation_split: float) -> int:
    """Rows trained on under Keras' validation_split: floor(n * (1 - split)); the rest are held out."""
    return int(math.floor(n * (1.0 - validation_split)))


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The global torch RNG states that dropout draws from (CPU, plus the accelerator's)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    """Inverse of ``_rng_state``."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


def _detached_cpu_copy(obj: Any) -> Any:
    """Deep copy of nested dicts/lists/tuples with every tensor cloned to the CPU.

    The copy no longer aliases the live parameters (which keep training), and a checkpoint
    taken on a GPU can be resumed anywhere (load_state_dict moves tensors back).
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _detached_cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_detached_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


class TorchNetModel:
    """A Keras-style net ("dnn" or "cnn") trained by a fast in-memory loop; see the module doc.

    ``n_classes`` (>= 2) logits; ``input_shape`` is one row as the dataset stores it: (F,),
    (H, W) or (H, W, C) for the dnn, an image shape (H, W) or (H, W, C) for the cnn.
    ``params`` overrides ``default_params(name)``: epochs, batch_size, lr, rho, eps, dropout1,
    dropout2, validation_split. ``threads`` sets torch's intra-op threads; ``device`` is a torch
    device string ("cpu", "cuda", "cuda:0", "mps"); ``seed`` fixes init, dropout and shuffling;
    ``fast_paths`` picks the speed-ups (default None = ``FastPaths()``, all on).
    """

    def __init__(self, name: str, *, n_classes: int, input_shape: tuple[int, ...],
                 params: Mapping[str, Any] | None = None, threads: int = 1, device: str = "cpu",
                 seed: int = 0, fast_paths: FastPaths | None = None) -> None:
        if name not in ARCHITECTURES:
            raise ValueError(f"name must be one of {list(ARCHITECTURES)}, got {name!r}")
        self.name = name
        self.n_classes = check_n_classes(n_classes)
        self.input_shape = check_input_shape(input_shape)
        if name == "cnn":
            image_layout(self.input_shape)  # raises for shapes the convs cannot take
        self.params = validate_params(name, params)
        self.threads, self.device, self.seed = threads, device, seed
        self.fast_paths = FastPaths() if fast_paths is None else fast_paths
        self._dev = torch.device(device)
        self._net: nn.Module | None = None

    @property
    def _channels_last(self) -> bool:
        return self.name == "cnn" and self.fast_paths.channels_last

    @property
    def _flat_input(self) -> bool:
        """Whether the net takes (n, F) rows (the dnn) rather than (n, C, H, W) images."""
        return self.name == "dnn"

    @property
    def _eval_batch(self) -> int:
        return EVAL_BATCH[self.name]

    def _optimizer(self, net: nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(self.name, net, self.params, foreach=self.fast_paths.foreach)

    # ----- building blocks -------------------------------------------------------------------
    def _build(self) -> nn.Module:
        """A freshly initialised net on the device (draws init weights from the global RNG)."""
        onednn = self.fast_paths.onednn_dense and self._dev.type == "cpu"
        net: nn.Module = ARCHITECTURES[self.name](self.params, input_shape=self.input_shape,
                                                  n_classes=self.n_classes, onednn=onednn)
        net = glorot_init_(net).to(self._dev)
        if self._channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        """(n, *input_shape) -> float32 on the device, shaped for the net: (n, F) for the dnn,
        (n, C, H, W) for the cnn. uint8 is scaled to [0, 1]; floats are used as they are."""
        # Move the uint8 bytes (4x smaller than float32), then convert on the device.
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self._dev)
        t = t.to(torch.float32).div_(PIXEL_MAX) if x.dtype == np.uint8 else t.to(torch.float32)
        if self._flat_input:
            return t.reshape(len(x), n_features(self.input_shape))
        if len(self.input_shape) == 2:
            t = t.reshape(len(x), 1, *self.input_shape)
        else:  # (n, H, W, C) as stored -> (n, C, H, W): a channels_last view, no copy
            t = t.permute(0, 3, 1, 2)
        return t.contiguous(memory_format=torch.channels_last if self._channels_last
                            else torch.contiguous_format)

    def _train_epoch(self, net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, gen: torch.Generator) -> float:
        """One pass over (x, y) in a fresh random order; returns the mean training loss."""
        net.train()
        n, batch = len(x), self.params["batch_size"]
        order = torch.randperm(n, generator=gen).to(self._dev)
        total = torch.zeros((), device=self._dev)  # stays on the device: no per-step sync
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            loss = F.cross_entropy(net(x.index_select(0, idx)), y.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        return float(total) / n

    @torch.inference_mode()
    def _logits(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits (n, n_classes) in batches of EVAL_BATCH[name]."""
        net.eval()
        batch = self._eval_batch
        return torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)])

    def _validate(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(val_loss, val_acc) on the held-out rows; NaN for both when there are none."""
        if len(x) == 0:
            return math.nan, math.nan
        logits = self._logits(net, x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).to(torch.float32).mean()
        return float(loss), float(acc)

    def _state(self, net: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               epoch: int, history: list[dict]) -> dict[str, Any]:
        """A CPU copy of everything needed to continue after ``epoch`` (picklable, device-free)."""
        return _detached_cpu_copy({
            "format": STATE_FORMAT, "model_name": self.name, "epoch": epoch,
            "model": net.state_dict(), "optimizer": opt.state_dict(),
            "rng": _rng_state(self._dev), "shuffle_generator": gen.get_state(),
            "history": history,
        })

    def _restore(self, state: Mapping[str, Any], net: nn.Module, opt: torch.optim.Optimizer,
                 gen: torch.Generator) -> tuple[int, list[dict]]:
        """Load a ``_state`` dict into net/opt/RNGs; returns (epochs already done, history)."""
        if state.get("model_name") != self.name or state.get("format") != STATE_FORMAT:
            raise ValueError(f"resume_state: expected a {self.name} state of format {STATE_FORMAT}; "
                             f"got model {state.get('model_name')!r}, format {state.get('format')!r}")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["shuffle_generator"])
        _set_rng_state(state["rng"], self._dev)
        return int(state["epoch"]), list(state.get("history", []))

    # ----- public API ------------------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable[[dict, dict], Any] | None = None,
            resume_state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Train on the first floor(n * (1 - validation_split)) rows, validate on the rest.

        x: (n, *input_shape) uint8 (or float for flat features); y: int (n,) in
        0..n_classes-1. After every epoch calls
        ``on_epoch(metrics, state)`` with metrics {epoch (1-based), train_loss, val_loss, val_acc}
        and a picklable state; ``fit(x, y, resume_state=state)`` continues at state["epoch"] + 1
        and ends where an uninterrupted run would. Returns {n_fit, n_val, epochs_done,
        train_loss, val_loss, val_acc, fit_seconds, history}.
        """
        x = check_images(x, input_shape=self.input_shape)
        y = check_labels(y, n=len(x), n_classes=self.n_classes)
        n_fit = keras_n_fit(len(x), self.params["validation_split"])
        if n_fit < 1:
            raise ValueError(f"x: {len(x)} rows leave none to train on with validation_split "
                             f"{self.params['validation_split']}")
        start_time = time.perf_counter()
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        net = self._build()
        opt = self._optimizer(net)
        gen = torch.Generator().manual_seed(self.seed)  # shuffling: CPU generator, then moved
        done, history = (0, []) if resume_state is None else self._restore(resume_state, net, opt, gen)

        xt, yt = self._to_tensor(x), torch.from_numpy(y).to(self._dev)
        x_fit, y_fit, x_val, y_val = xt[:n_fit], yt[:n_fit], xt[n_fit:], yt[n_fit:]
        for epoch in range(done + 1, self.params["epochs"] + 1):
            train_loss = self._train_epoch(net, opt, x_fit, y_fit, gen)
            val_loss, val_acc = self._validate(net, x_val, y_val)
            metrics = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(dict(metrics), self._state(net, opt, gen, epoch, history))
        self._net = net
        last = history[-1] if history else {"epoch": done, "train_loss": math.nan,
                                            "val_loss": math.nan, "val_acc": math.nan}
        return {"n_fit": n_fit, "n_val": len(x) - n_fit, "epochs_done": last["epoch"],
                "train_loss": last["train_loss"], "val_loss": last["val_loss"], "val_acc": last["val_acc"],
                "fit_seconds": time.perf_counter() - start_time, "history": history,
                "torch_threads": torch.get_num_threads()}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float64 (m, n_classes) softmax probabilities for inputs (m, *input_shape)."""
        if self._net is None:
            raise RuntimeError(f"{self.name}: predict_proba called before fit")
        x = check_images(x, input_shape=self.input_shape)
        torch.set_num_threads(self.threads)
        logits = torch.cat([self._logits(self._net, self._to_tensor(x[i:i + PREDICT_CHUNK]))
                            for i in range(0, len(x), PREDICT_CHUNK)])
        # softmax in float64 so rows sum to 1 to ~1e-15, as sklearn's AUC checks expect
        return torch.softmax(logits.cpu().to(torch.float64), dim=1).numpy()
