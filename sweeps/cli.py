"""`datavsmath`: run sweeps, write reports, summarise experiments.

User errors (bad spec, bad arguments, missing data, unusable storage) exit 2 with one
message and no traceback; errored trials exit 1 after the results are written; an
interrupted sweep exits 130 and prints the command that resumes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from sweeps import cost, resources
from sweeps.spec import MODEL_NAMES, Spec, SpecError, count_listed, expand_trials, load_spec, parse_resources, shipped_specs

EXIT_USER_ERROR = 2
EXIT_TRIALS_FAILED = 1
PREVIEW_ROWS = 6


def _resource_arg(text: str) -> tuple[str, dict[str, float]]:
    """`MODEL:cpu=2,gpu=0.5` -> ("cnn", {"cpu": 2.0, "gpu": 0.5})."""
    model, _, rest = text.partition(":")
    if model not in MODEL_NAMES or not rest:
        raise argparse.ArgumentTypeError(
            f"--resources must look like MODEL:cpu=N,gpu=G with MODEL in {list(MODEL_NAMES)}, got {text!r}")
    request = {}
    for part in rest.split(","):
        key, _, value = part.partition("=")
        try:
            request[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--resources {text!r}: {key} must be a number, got {value!r}")
    try:
        return model, parse_resources({model: request}, (model,), where="--resources")[model]
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return int(text)


def _add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a sweep spec as Ray Tune trials",
                       description=f"Run a spec file or a shipped spec: {', '.join(shipped_specs())}.")
    p.add_argument("spec", help="YAML file or shipped spec name")
    p.add_argument("--storage", default="results", help="where experiments live: folder or s3://... (default ./results)")
    p.add_argument("--name", help="experiment name (default: the spec's name)")
    p.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download the data; fail if no local copy exists")
    p.add_argument("--dry-run", action="store_true", help="show trials and resource plan, start nothing")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    p.add_argument("--retry-errored", action="store_true", help="with --resume: retry errored trials")
    p.add_argument("--overwrite", action="store_true", help="delete an existing experiment of that name first")
    p.add_argument("--max-failures", type=_non_negative_int, help="retries per trial (default 2)")
    p.add_argument("--gpu-share", type=_fraction, help="GPU fraction per net/xgb trial (default 0.25)")
    p.add_argument("--resources", type=_resource_arg, action="append", default=[], metavar="MODEL:cpu=N,gpu=G",
                   help="override a model's request; repeatable")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false", help="do not start the Ray dashboard")
    p.add_argument("--no-report", dest="report", action="store_false", help="skip the HTML report at the end")
    p.add_argument("-v", "--verbose", type=int, default=1, choices=(0, 1, 2), help="Tune verbosity (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datavsmath", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_sweep_parser(sub)
    report = sub.add_parser("report", help="write the self-contained HTML report of an experiment")
    report.add_argument("results", help="experiment directory (local or URI), results.parquet or seed-format CSV")
    report.add_argument("--out", help="report path (default: report.html in the experiment directory)")
    report.add_argument("--reference", help="seed-format CSV drawn beside this run (e.g. the talk's results)")
    report.add_argument("--png", action="store_true", help="also write a PNG of every figure")
    status = sub.add_parser("status", help="summarise a running or finished experiment")
    status.add_argument("results", help="experiment directory (or results.parquet)")
    sub.add_parser("specs", help="list the shipped specs")
    data = sub.add_parser("data", help="find (or download) Fashion-MNIST and say where it is")
    data.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    data.add_argument("--no-download", dest="download", action="store_false", help="never download")
    return parser


def _options(args: argparse.Namespace):
    from sweeps.runner import SweepOptions

    return SweepOptions(
        storage=args.storage, name=args.name, address=args.address, data_dir=args.data_dir,
        download=args.download, resume=args.resume, retry_errored=args.retry_errored,
        overwrite=args.overwrite, max_failures=args.max_failures, gpu_share=args.gpu_share,
        resource_overrides=dict(args.resources), dashboard=args.dashboard, report=args.report,
        verbose=args.verbose)


def _local_nodes() -> list[resources.Node]:
    """This machine as one node, without starting Ray (for --dry-run)."""
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # a broken CUDA install must not break a dry run
        gpus = 0
    return [resources.Node(node_id="local", address="local", cpu=float(os.cpu_count() or 1), gpu=float(gpus))]


def dry_run(spec: Spec, *, options, nodes: list[resources.Node] | None = None) -> str:
    """The text --dry-run prints: trial count, grid preview, resource plan, compute estimate."""
    from sweeps.runner import plan_for

    nodes = nodes or _local_nodes()
    trials = cost.longest_first(expand_trials(spec), overrides=spec.overrides)
    listed = count_listed(spec)
    plan = plan_for(spec, nodes=nodes, options=options)
    seconds = sum(cost.estimate_seconds(t, overrides=spec.overrides.get(t["model"])) for t in trials)
    lines = [f"spec {spec.name!r} ({spec.source}): {len(trials)} trials"
             + (f" ({listed} grid points, {listed - len(trials)} duplicates merged)" if listed != len(trials) else ""),
             f"models: {', '.join(spec.models)}; seeds: {list(spec.seeds)}",
             "first trials (longest first):"]
    for t in trials[:PREVIEW_ROWS]:
        lines.append(f"  model={t['model']} sample_frac={t['sample_frac']:g} damage_frac={t['damage_frac']:g} "
                     f"damage_mode={t['damage_mode']} seed={t['seed']}")
    if len(trials) > PREVIEW_ROWS:
        lines.append(f"  ... and {len(trials) - PREVIEW_ROWS} more")
    lines.append("resource request per model:")
    lines += resources.describe_plan(plan, nodes=nodes)
    lines.append(f"estimated compute: {seconds / 60:.1f} CPU-minutes on 1-thread trials")
    return "\n".join(lines)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sweeps.runner import resume_command, run_sweep

    spec = load_spec(args.spec)
    options = _options(args)
    if args.retry_errored and not args.resume:
        raise SpecError("--retry-errored needs --resume")
    if args.dry_run:
        print(dry_run(spec, options=options))
        return 0
    outcome = run_sweep(spec, options=options)
    for label, path in outcome.files.items():
        print(f"{label}: {path}")
    print(f"trials: {outcome.n_terminated} finished, {outcome.n_errored} errored, {outcome.n_trials} in all")
    if outcome.lower_bound_s > 0:
        print(f"makespan {outcome.makespan_s:.1f} s, lower bound {outcome.lower_bound_s:.1f} s, "
              f"ratio {outcome.makespan_ratio:.2f}")
    name = options.name or spec.name
    if outcome.interrupted:
        print(f"Interrupted. Resume with:\n  {resume_command(spec, name=name, options=options)}", file=sys.stderr)
        return 130
    if outcome.n_errored:
        retry = resume_command(spec, name=name, options=options) + " --retry-errored"
        print(f"datavsmath: {outcome.n_errored} trial(s) errored; see results.csv (status ERROR). "
              f"Retry them with:\n  {retry}", file=sys.stderr)
        return EXIT_TRIALS_FAILED
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from analysis.status import format_status

    print(format_status(args.results))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    path = write_report(args.results, out=args.out, reference=args.reference, png=args.png)
    print(f"report: {path}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from trainables.data import load_fashion_mnist

    data = load_fashion_mnist(args.data_dir, download=args.download)
    print(f"Fashion-MNIST: {len(data.y_train)} train + {len(data.y_test)} test images, "
          f"checksums verified, from {data.source}")
    return 0


def _cmd_specs(_: argparse.Namespace) -> int:
    for name in shipped_specs():
        spec = load_spec(name)
        print(f"{name:20s} {len(expand_trials(spec)):4d} trials  {spec.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `datavsmath` console command; returns the exit code."""
    from sweeps.runner import SweepError
    from trainables.data import ChecksumError, DataNotFoundError

    args = build_parser().parse_args(argv)
    handlers = {"sweep": _cmd_sweep, "report": _cmd_report, "status": _cmd_status, "specs": _cmd_specs, "data": _cmd_data}
    try:
        return handlers[args.command](args)
    except (SpecError, SweepError, DataNotFoundError, ChecksumError, FileNotFoundError) as exc:
        print(f"datavsmath: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
