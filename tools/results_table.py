"""Collect mpt-eval results and training curves into one markdown table beside the paper's numbers.

    python tools/results_table.py RUN_DIR... [--out results.md] [--plot curves.png]

Each RUN_DIR may be an mpt-eval output folder (holding ``eval.json``, written by mpt/engine/evaluate.py), an
mpt-pretrain / mpt-finetune run folder (holding ``metrics.jsonl`` and ``config.yaml``, written by
mpt/engine/trainer.py), or an ``eval.json`` file itself. The experiment of an evaluation is the ``name`` in the
``config.yaml`` of the checkpoint it evaluated (``outputs/finetune_mpt`` -> ``finetune_mpt``), so the paper's
number for that row of its tables can stand beside ours.

Output: a table of the mpt-eval results (with the protocol line each eval.json carries; the paper's numbers stand
beside Human3.6M protocol-2 results only, and METRO's 3DPW numbers under the table when a 3DPW result is given), a
table of the last validation of each training run (what it was validated on is said: pre-training validates on
held-out AMASS motions seen by the virtual cameras, which is not the paper's test set), and with ``--plot`` a PNG of
validation MPJPE / PA-MPJPE over training steps for every run given. Missing or corrupt files are reported by name
on stderr and skipped; the exit code is 2 when nothing usable was found.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/results_table.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from mpt.atomic import atomic_path, write_text_atomic


@dataclass(frozen=True)
class PaperResult:
    """One row of the paper's tables: Human3.6M protocol 2, millimetres."""

    table: str
    description: str
    mpjpe: float
    pa_mpjpe: float
    set_name: str = "h36m_p2"  # every row: Human3.6M protocol 2
    pose_network: str = "higherhrnet_w48"  # every MPT row: HigherHRNet-w48 draws the maps (paper, section 4)


# The paper's numbers, keyed by experiment name (configs/experiment/<name>.yaml, whose header comment states the
# same numbers). MPT paper (Lin et al.), Human3.6M protocol 2. A result row stands for (experiment, set, pose
# network); the paper's number goes only beside the row with the paper's set and pose network (paper_result).
PAPER: dict[str, PaperResult] = {
    "finetune_mpt": PaperResult("Table 1", "MPT: HigherHRNet-w48 + 224 heatmaps, pre-trained with 8 views", 45.3, 31.7),
    "pretrain_views1": PaperResult("Table 2", "pre-training only, 1 virtual view", 92.5, 61.7),
    "pretrain_views2": PaperResult("Table 2", "pre-training only, 2 virtual views", 89.5, 61.4),
    "pretrain_views4": PaperResult("Table 2", "pre-training only, 4 virtual views", 89.0, 58.4),
    "pretrain_views8": PaperResult("Table 2", "pre-training only, 8 virtual views", 88.3, 58.2),
    "finetune_hm112": PaperResult("Table 3", "pose heatmaps at 112 instead of 224", 46.5, 32.7),
    "finetune_mask": PaperResult("Table 4", "binary person masks instead of heatmaps", 55.6, 35.4),
}
# The paper's image-feature baseline (Table 1): not an mpt experiment (METRO regresses from HRNet-w64 image
# features); shown under the table for reference. finetune_scratch is mpt's closest counterpart.
METRO_BASELINE = PaperResult("Table 1", "METRO, HRNet-w64 image features (128M backbone)", 54.0, 36.7)

# METRO's released 3DPW model (microsoft/MeshTransformer docs/EXP.md, metro_3dpw_state_dict.bin on 3dpw/test.yaml):
# mPVE, mPJPE, PA-MPJPE in mm. The MPT paper reports no 3DPW number per row; this is the reference to compare with.
METRO_3DPW = {"pve": 88.28, "mpjpe": 77.10, "pa_mpjpe": 47.90}

PRETRAIN_VAL = "held-out AMASS motions through the virtual cameras (not the paper's test set)"


class ResultFileError(ValueError):
    """A results file that cannot be used; the message names it."""


@dataclass(frozen=True)
class EvalResult:
    """One eval.json."""

    path: Path
    experiment: str
    set_name: str
    mpjpe: float
    pa_mpjpe: float
    count: int
    protocol: str
    pve: float | None = None
    pretrain_only: bool = False
    rotation_error_deg: float | None = None
    pose_network: str = "?"  # eval.json's "backbone": the pose network that drew the maps

    @property
    def key(self) -> tuple[str, str, str]:
        """What a row stands for: (experiment, set, pose network); the paper's number belongs to one such key."""
        return (self.experiment, self.set_name, self.pose_network)


def paper_result(r: EvalResult) -> PaperResult | None:
    """The paper's number for ``r``'s key: its experiment's row, only on the paper's set behind the paper's pose
    network (an evaluation behind another detector, or on another set, has none)."""
    p = PAPER.get(r.experiment)
    return p if p is not None and (r.set_name, r.pose_network) == (p.set_name, p.pose_network) else None


@dataclass
class Curve:
    """Validation metrics of one training run over its steps (a step logged twice, e.g. across a resume,
    keeps its last value)."""

    run_dir: Path
    experiment: str
    validated_on: str
    steps: list[int] = field(default_factory=list)
    mpjpe: list[float] = field(default_factory=list)
    pa_mpjpe: list[float] = field(default_factory=list)


@dataclass
class Collected:
    evals: list[EvalResult] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _finite_number(value: Any, what: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ResultFileError(f"{path}: {what} is {value!r}, expected a finite number")
    return float(value)


def _read_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config.yaml a training run wrote (None when absent or unreadable)."""
    path = run_dir / "config.yaml"
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return cfg if isinstance(cfg, dict) else None


def run_experiment(run_dir: Path, cfg: dict[str, Any] | None = None) -> str:
    """Experiment name of a training run: ``name`` in its config.yaml (``cfg``, read when None), else the folder
    name (outputs/<name>)."""
    cfg = _read_config(run_dir) if cfg is None else cfg
    name = cfg.get("name") if cfg else None
    return str(name) if name else run_dir.name


def read_eval(path: str | os.PathLike[str]) -> EvalResult:
    """Read one eval.json written by mpt-eval; ResultFileError naming the file if it is unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"{path}: not readable JSON ({exc}); re-run mpt-eval to rewrite it") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ResultFileError(f"{path}: no 'metrics' object; not an eval.json written by mpt-eval")
    m = data["metrics"]
    for key in ("mpjpe", "pa_mpjpe", "count"):
        if key not in m:
            raise ResultFileError(f"{path}: metrics lack '{key}'; not an eval.json written by mpt-eval")
    checkpoint = data.get("checkpoint")
    experiment = run_experiment(Path(checkpoint)) if checkpoint else path.parent.name
    pve = _finite_number(m["pve"], "metrics.pve", path) if m.get("pve") is not None else None
    rotation = m.get("rotation_error_deg")  # absent from eval.json files of earlier versions
    rotation = _finite_number(rotation, "metrics.rotation_error_deg", path) if rotation is not None else None
    return EvalResult(path=path, experiment=experiment, set_name=str(data.get("set", "?")),
                      mpjpe=_finite_number(m["mpjpe"], "metrics.mpjpe", path),
                      pa_mpjpe=_finite_number(m["pa_mpjpe"], "metrics.pa_mpjpe", path),
                      count=int(_finite_number(m["count"], "metrics.count", path)),
                      protocol=str(data.get("protocol", "")), pve=pve,
                      pretrain_only=bool(data.get("pretrain_only", False)),
                      rotation_error_deg=rotation, pose_network=str(data.get("backbone", "?")))  # fmt: skip


def _validated_on(cfg: dict[str, Any] | None) -> str:
    """What a training run's "val" lines measure, from its config."""
    if cfg is None:
        return "unknown (config.yaml missing)"
    if "cameras" in cfg:  # only pre-training configs have virtual cameras
        return PRETRAIN_VAL
    val = (cfg.get("data") or {}).get("val") or {}
    limit = (cfg.get("train") or {}).get("max_val_samples")
    what = f"{val.get('name', 'data.val')} ({val.get('tsv', '?')}, split {val.get('split', '?')})"
    return what + (f", first {limit} samples" if limit else "")


def read_val_curve(run_dir: str | os.PathLike[str]) -> tuple[Curve, int]:
    """The "val" lines of ``<run_dir>/metrics.jsonl`` and the number of unreadable lines skipped.

    A torn last line (a run killed while writing) or a corrupt line is skipped and counted, not fatal.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ResultFileError(f"{path}: not readable ({exc})") from None
    cfg = _read_config(run_dir)
    by_step: dict[int, tuple[float, float]] = {}
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or row.get("kind") != "val":
                continue
            step = int(row["step"])
            values = (float(row["mpjpe"]), float(row["pa_mpjpe"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            bad += 1
            continue
        if all(math.isfinite(v) for v in values):
            by_step[step] = values  # a later line for the same step (after a resume) wins
        else:
            bad += 1
    curve = Curve(run_dir=run_dir, experiment=run_experiment(run_dir, cfg), validated_on=_validated_on(cfg))
    for step in sorted(by_step):
        curve.steps.append(step)
        curve.mpjpe.append(by_step[step][0])
        curve.pa_mpjpe.append(by_step[step][1])
    return curve, bad


def collect(paths: Sequence[str | os.PathLike[str]]) -> Collected:
    """Read every eval.json / metrics.jsonl under the given folders (or eval.json files); problems are listed."""
    out = Collected()
    for given in paths:
        p = Path(given)
        if p.is_file():
            eval_file, run_dir = p, None
        elif p.is_dir():
            eval_file = p / "eval.json" if (p / "eval.json").is_file() else None
            run_dir = p if (p / "metrics.jsonl").is_file() else None
            if eval_file is None and run_dir is None:
                out.problems.append(f"{p}: no eval.json or metrics.jsonl here; skipped")
                continue
        else:
            out.problems.append(f"{p}: no such file or folder; skipped")
            continue
        if eval_file is not None:
            try:
                out.evals.append(read_eval(eval_file))
            except ResultFileError as exc:
                out.problems.append(f"{exc}; skipped")
        if run_dir is not None:
            try:
                curve, bad = read_val_curve(run_dir)
            except ResultFileError as exc:
                out.problems.append(f"{exc}; skipped")
                continue
            if bad:
                out.problems.append(f"{run_dir / 'metrics.jsonl'}: {bad} unreadable line(s) skipped")
            if curve.steps:
                out.curves.append(curve)
            else:
                out.problems.append(f"{run_dir / 'metrics.jsonl'}: no validation lines; no curve for this run")
    return out


def _order(name: str) -> tuple[int, str]:
    keys = list(PAPER)
    return (keys.index(name), name) if name in keys else (len(keys), name)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _delta(ours: float, paper: float | None) -> str:
    return "—" if paper is None else f"{ours - paper:+.1f}"


def markdown(collected: Collected) -> str:
    """The results as markdown: mpt-eval table beside the paper, then each training run's last validation."""
    lines = ["## mpt-eval (the paper's numbers: Human3.6M protocol 2)", ""]
    if collected.evals:
        lines += ["| experiment | paper | MPJPE paper | MPJPE ours | Δ | PA-MPJPE paper | PA-MPJPE ours | Δ | PVE | "
                  "rot. err (deg) | samples | set | pose network | result |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in sorted(collected.evals, key=lambda e: (_order(e.experiment), e.key, str(e.path))):
            p = paper_result(r)
            other = PAPER.get(r.experiment) if p is None else None
            paper_col = (f"{p.table}: {p.description}" if p else "no paper number" if other is None else
                         f"no paper number (the paper's row is {other.set_name} behind {other.pose_network})")
            if r.pretrain_only:
                paper_col += " (pre-trained only)"
            lines.append(
                f"| {r.experiment} | {paper_col} | {_fmt(p.mpjpe if p else None)} | {r.mpjpe:.1f} | "
                f"{_delta(r.mpjpe, p.mpjpe if p else None)} | {_fmt(p.pa_mpjpe if p else None)} | {r.pa_mpjpe:.1f} | "
                f"{_delta(r.pa_mpjpe, p.pa_mpjpe if p else None)} | {_fmt(r.pve)} | {_fmt(r.rotation_error_deg)} | "
                f"{r.count} | {r.set_name} | {r.pose_network} | {r.path} |"
            )
        lines.append("")
        protocols = sorted({r.protocol for r in collected.evals if r.protocol})
        for protocol in protocols:
            lines.append(f"Protocol: {protocol}")
        per_set: dict[str, set[str]] = {}
        for r in collected.evals:
            per_set.setdefault(r.set_name, set()).add(r.protocol)
        mixed = sorted(name for name, found in per_set.items() if len(found) > 1)
        if mixed:
            lines.append(f"**Warning: results on {', '.join(mixed)} were measured with different protocols.**")
        if any(r.set_name.startswith("3dpw") for r in collected.evals):
            lines.append(f"METRO on 3DPW (its released metro_3dpw_state_dict.bin, docs/EXP.md of "
                         f"microsoft/MeshTransformer; neutral ground-truth body): PVE {METRO_3DPW['pve']:.2f}, MPJPE "
                         f"{METRO_3DPW['mpjpe']:.2f}, PA-MPJPE {METRO_3DPW['pa_mpjpe']:.2f} mm.")  # fmt: skip
    else:
        lines.append("No eval.json given.")
    lines += ["", f"Paper's baseline, {METRO_BASELINE.table}: {METRO_BASELINE.description}: "
              f"{METRO_BASELINE.mpjpe} / {METRO_BASELINE.pa_mpjpe} mm (compare finetune_scratch).", "",
              "## Last validation during training", ""]  # fmt: skip
    if collected.curves:
        lines += [
            "| run | experiment | validated on | step | MPJPE | PA-MPJPE |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in sorted(collected.curves, key=lambda c: (_order(c.experiment), str(c.run_dir))):
            lines.append(f"| {c.run_dir} | {c.experiment} | {c.validated_on} | {c.steps[-1]} | {c.mpjpe[-1]:.1f} | "
                         f"{c.pa_mpjpe[-1]:.1f} |")  # fmt: skip
    else:
        lines.append("No training run with validation lines given.")
    return "\n".join(lines) + "\n"


def plot_curves(curves: Sequence[Curve], out: str | os.PathLike[str]) -> Path:
    """PNG of validation MPJPE and PA-MPJPE over steps, one line per run (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    names = [c.experiment for c in curves]
    for c in curves:
        label = c.experiment if names.count(c.experiment) == 1 else f"{c.experiment} ({c.run_dir})"
        for ax, values in zip(axes, (c.mpjpe, c.pa_mpjpe)):
            ax.plot(c.steps, values, marker="o", markersize=3, label=label)
    for ax, metric in zip(axes, ("MPJPE", "PA-MPJPE")):
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"validation {metric} (mm)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Validation during training (pre-training runs: held-out AMASS motions; fine-tuning: data.val)")
    out = Path(out)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: print the table (and write --out / --plot); 2 when no usable result was found."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="mpt-eval output folders, training run folders, or eval.json files")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown here (e.g. results.md)")
    ap.add_argument("--plot", type=Path, default=None, help="write validation curves here (e.g. curves.png)")
    args = ap.parse_args(argv)
    collected = collect(args.runs)
    for problem in collected.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not collected.evals and not collected.curves:
        print("error: no usable eval.json or metrics.jsonl among the paths given", file=sys.stderr)
        return 2
    text = markdown(collected)
    print(text, end="")
    if args.out is not None:
        write_text_atomic(args.out, text)
        print(f"wrote {args.out}")
    if args.plot is not None:
        if collected.curves:
            print(f"wrote {plot_curves(collected.curves, args.plot)}")
        else:
            print(f"warning: no validation curves to plot; {args.plot} not written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
