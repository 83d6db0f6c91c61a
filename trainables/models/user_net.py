"""A user's torch network trained by the project's net trainer (``UserNetModel``)."""

from __future__ import annotations

import torch
from torch import nn

from .common import check_input_shape, check_n_classes
from .nets import FastPaths, TorchNetModel
from .user import OPTIMIZERS, USER_EVAL_BATCH, UserModel, build_net


class UserNetModel(TorchNetModel):
    """A user's torch network (a spec's ``models: {NAME: {module: "pkg.mod:make_net", ...}}``,
    datavsmath.trainables.models.user) trained by the nets' trainer (nets.TorchNetModel): the same
    per-epoch reports, checkpoints, resume, validation split and device choice as the dnn and cnn.

    ``model``: the checked UserModel (its factory path, epochs, batch_size, validation_split,
    optimizer {name, lr, ...}). The factory is called as ``make_net(input_shape, n_classes)``
    after the trial's seed is set, so its init is seeded; its own initialisation is kept.
    Batches are (n, F) float32 for flat inputs and (n, C, H, W) for images, pixels scaled to [0, 1].
    """

    def __init__(self, model: UserModel, *, n_classes: int, input_shape: tuple[int, ...], threads: int = 1,
                 device: str = "cpu", seed: int = 0, fast_paths: FastPaths | None = None) -> None:
        self.name, self.user = model.name, model
        self.n_classes = check_n_classes(n_classes)
        self.input_shape = check_input_shape(input_shape)
        self.params = {"epochs": model.epochs, "batch_size": model.batch_size,
                       "validation_split": model.validation_split}
        self.threads, self.device, self.seed = threads, device, seed
        self.fast_paths = FastPaths() if fast_paths is None else fast_paths
        self._dev = torch.device(device)
        self._net = None

    @property
    def _channels_last(self) -> bool:
        return False

    @property
    def _flat_input(self) -> bool:
        return len(self.input_shape) == 1

    @property
    def _eval_batch(self) -> int:
        return USER_EVAL_BATCH

    def _build(self) -> nn.Module:
        return build_net(self.user, input_shape=self.input_shape, n_classes=self.n_classes).to(self._dev)

    def _optimizer(self, net: nn.Module) -> torch.optim.Optimizer:
        options = dict(self.user.optimizer)
        optimizer_class = getattr(torch.optim, OPTIMIZERS[options.pop("name")])
        try:
            return optimizer_class(net.parameters(), **options)
        except TypeError as exc:
            raise ValueError(f"models.{self.name}.optimizer: {exc}") from exc
