"""Worker processes for bench_trainers.py, run with the project's interpreter.

    python benchmarks/peers/torch_workers.py project --data subset.npz --model cnn --threads 1 ...
    python benchmarks/peers/torch_workers.py plain   --data subset.npz --root ~/.cache/datavsmath ...
    python benchmarks/peers/torch_workers.py gemm    --threads 1

Each prints one ``BENCH_JSON {...}`` line (see barrier.py).

``project`` trains with the project's own trainer (datavsmath.trainables.models.build_model(...).fit). Like a
sweep's trial, it applies the allocator policy once at process start
(datavsmath.trainables.allocator.keep_freed_memory) unless --no-mallopt asks for glibc's defaults. The
trainer's speed-ups are switched off through the FastPaths value it is built with
(--no-channels-last, --no-foreach, --blas-dense: MKL dense layers); the other experiments are
applied by this worker only: --compile (torch.compile of the net), --fp32-precision bf16 (oneDNN
bf16 fpmath), --mkldnn-off.

``plain`` is the loop pytorch/examples (mnist/main.py) writes: torchvision dataset + ToTensor +
DataLoader(batch_size=128, shuffle=True), the same architecture (nn.Dropout, NCHW) and optimizer.
Only change from the example: Keras' Glorot-uniform init and zero biases, so that its accuracy is
a fair reference for the project's (Keras-initialised) nets.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from barrier import Barrier, EpochClock, add_barrier_args, emit  # noqa: E402


def test_accuracy(proba_or_logits: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(proba_or_logits).argmax(1) == y).mean())


# ----------------------------------------------------------------------------- project

def run_project(args: argparse.Namespace) -> None:
    from datavsmath.trainables.allocator import keep_freed_memory
    from datavsmath.trainables.models import FastPaths, build_model, nets

    tune_malloc = not args.no_mallopt and keep_freed_memory()  # the worker's policy, as a trial's
    fast_paths = FastPaths(onednn_dense=not args.blas_dense, channels_last=not args.no_channels_last,
                           foreach=not args.no_foreach)
    extra: dict = {}
    if args.mkldnn_off:
        torch.backends.mkldnn.enabled = False
    if args.fp32_precision:
        torch.backends.mkldnn.fp32_precision = args.fp32_precision
        extra["fp32_precision"] = torch.backends.mkldnn.fp32_precision
    extra["onednn_dense"] = fast_paths.onednn_dense and nets.onednn_dense_works()
    extra["tune_malloc"] = tune_malloc
    if args.compile:
        original = nets.TorchNetModel._build

        def compiled_build(self):  # torch.compile the freshly built net
            return torch.compile(original(self))

        nets.TorchNetModel._build = compiled_build

    d = np.load(args.data)
    x, y = d["x"], d["y"]
    barrier = Barrier(args.ready, args.go)
    clock = EpochClock(barrier)
    model = build_model(args.model, n_classes=int(d["n_classes"]), input_shape=x.shape[1:],
                        params={"epochs": args.epochs, "validation_split": 0.0}, threads=args.threads,
                        seed=args.seed, fast_paths=fast_paths)
    faults: list[int] = []

    def on_epoch(metrics, state):
        clock.end()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

    t0 = time.time()
    clock.begin()
    model.fit(x, y, on_epoch=on_epoch)
    fit_s = time.time() - t0
    acc = test_accuracy(model.predict_proba(d["x_test"]), d["y_test"])
    emit({"framework": "project", "model": args.model, "threads": args.threads, "n": int(len(x)),
          "seed": args.seed, "epochs": clock.epochs, "fit_s": fit_s, "acc": acc,
          "ld_preload": os.environ.get("LD_PRELOAD", ""), "torch": torch.__version__,
          "num_threads": torch.get_num_threads(),
          "minor_faults_per_epoch": [b - a for a, b in zip(faults, faults[1:])], **extra}, barrier)


# ----------------------------------------------------------------------------- plain

class DenseNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 256)
        self.dropout1 = torch.nn.Dropout(0.4)
        self.fc2 = torch.nn.Linear(256, 128)
        self.dropout2 = torch.nn.Dropout(0.3)
        self.fc3 = torch.nn.Linear(128, 10)

    def forward(self, x):
        import torch.nn.functional as F
        x = torch.flatten(x, 1)
        x = self.dropout1(F.relu(self.fc1(x)))
        x = self.dropout2(F.relu(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, 1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = torch.nn.Dropout(0.25)
        self.dropout2 = torch.nn.Dropout(0.5)
        self.fc1 = torch.nn.Linear(9216, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        import torch.nn.functional as F
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def run_plain(args: argparse.Namespace) -> None:
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = np.load(args.data)
    transform = transforms.Compose([transforms.ToTensor()])  # x / 255, as the talk
    train_full = datasets.FashionMNIST(args.root, train=True, download=False, transform=transform)
    test_set = datasets.FashionMNIST(args.root, train=False, download=False, transform=transform)
    indices = d["indices"].tolist()
    if not np.array_equal(train_full.targets.numpy()[d["indices"]], d["y"]):
        raise SystemExit("torchvision labels differ from the project's subset")
    train_loader = DataLoader(Subset(train_full, indices), batch_size=128, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)
    model = ConvNet() if args.model == "cnn" else DenseNet()
    for m in model.modules():  # Keras defaults (see the module doc)
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    if args.model == "cnn":
        optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    else:
        optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

    barrier = Barrier(args.ready, args.go)
    clock = EpochClock(barrier)
    t0 = time.time()
    for _epoch in range(1, args.epochs + 1):
        clock.begin()
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % 10 == 0:  # the example's log_interval
                loss.item()
        clock.end()
    fit_s = time.time() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            correct += (model(data).argmax(dim=1) == target).sum().item()
    emit({"framework": "plain", "model": args.model, "threads": args.threads, "n": len(indices),
          "seed": args.seed, "epochs": clock.epochs, "fit_s": fit_s,
          "acc": correct / len(test_set), "torch": torch.__version__}, barrier)


# ----------------------------------------------------------------------------- gemm

def run_gemm(args: argparse.Namespace) -> None:
    """Best fp32 torch.mm GFLOP/s of square n x n matrices, repeated for `--seconds`."""
    torch.set_num_threads(args.threads)
    n = args.size
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)
    torch.mm(a, b, out=c)
    barrier = Barrier(args.ready, args.go)
    clock = EpochClock(barrier)
    clock.end()  # "warm-up epoch" done: wait for the release
    rates = []
    stop = time.time() + args.seconds
    while time.time() < stop or len(rates) < 3:
        s = time.perf_counter()
        torch.mm(a, b, out=c)
        rates.append(2 * n ** 3 / (time.perf_counter() - s) / 1e9)
    emit({"framework": "gemm", "threads": args.threads, "size": n, "best_gflops": max(rates),
          "median_gflops": float(np.median(rates)), "reps": len(rates), "epochs": clock.epochs,
          "n": 0}, barrier)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("project", "plain"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True)
        p.add_argument("--model", choices=("cnn", "dnn"), required=True)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--seed", type=int, default=0)
        add_barrier_args(p)
    proj = sub.choices["project"]
    proj.add_argument("--compile", action="store_true")
    proj.add_argument("--no-channels-last", action="store_true")
    proj.add_argument("--no-foreach", action="store_true")
    proj.add_argument("--mkldnn-off", action="store_true")
    proj.add_argument("--fp32-precision", default=None, help="torch.backends.mkldnn.fp32_precision")
    proj.add_argument("--no-mallopt", action="store_true",
                      help="skip the worker's glibc mallopt (datavsmath.trainables.allocator): glibc defaults")
    proj.add_argument("--blas-dense", action="store_true",
                      help="dense layers through torch's BLAS (MKL) instead of oneDNN")
    sub.choices["plain"].add_argument("--root", required=True, help="torchvision root")
    g = sub.add_parser("gemm")
    g.add_argument("--threads", type=int, default=1)
    g.add_argument("--size", type=int, default=2048)
    g.add_argument("--seconds", type=float, default=2.0)
    add_barrier_args(g)
    args = ap.parse_args()
    {"project": run_project, "plain": run_plain, "gemm": run_gemm}[args.cmd](args)


if __name__ == "__main__":
    main()
