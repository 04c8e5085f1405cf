"""The study's pilot: how many pre-training steps, at which learning rate, before the study runs.

A few pre-trainings of the study's own rows and data, with pilot seeds that the study never reports, validated on
the held-out motions only (the ``val`` protocol: no evaluation image is seen) every ``VAL_EVERY`` steps of a
``STEPS``-step schedule. :func:`decide` applies the rule below, written before the pilot ran, to their curves; the
protocol (tools/study/protocol.py) then takes the numbers it gives, and study.md prints the curves and the rule.

The rule (``RULE``): a step count N of the curve is enough when every pilot run's meshes are at least
``RATIO_MARGIN`` x as thick as the truth's at N (a margin over the study's trained flag, 0.7) and every 8-view run at
the chosen learning rate is within ``CONVERGED_MM`` of its final validation MPJPE; the study takes the smallest such
N. The learning rate stays the demo's 1e-3 unless 2e-3 is better by more than ``CONVERGED_MM`` at the end with
thick meshes. A curve point at N of a STEPS-step schedule has not yet decayed its learning rate, so an N-step run
does at least as well: the rule errs towards more steps.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tools.study.layout import Layout
from tools.study.protocol import RUN_BY_KEY, Protocol, Unit
from tools.study.results import Summary

STEPS = 1000
VAL_EVERY = 200
RATIO_MARGIN = 0.8
CONVERGED_MM = 5.0
DEFAULT_LR, OTHER_LR = 1e-3, 2e-3


@dataclass(frozen=True)
class PilotRun:
    """One pilot pre-training: a study row at a learning rate and a pilot seed."""

    run: str
    lr: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.run}_lr{self.lr:g}_s{self.seed}"

    @property
    def unit(self) -> Unit:
        return Unit(RUN_BY_KEY[self.run], self.seed)


# Two seeds of the 8-view row (its seed-to-seed spread sizes the study's power), the other learning rate, and the
# binary-mask row, the one whose input says least about depth.
PILOT: tuple[PilotRun, ...] = (
    PilotRun("views8", DEFAULT_LR, 100),
    PilotRun("views8", DEFAULT_LR, 101),
    PilotRun("views8", OTHER_LR, 100),
    PilotRun("mask", DEFAULT_LR, 100),
)
PILOT_BY_NAME = {r.name: r for r in PILOT}

RULE = (
    f"steps: the smallest validation step N of the {STEPS}-step pilot curves at which every pilot run's thickness "
    f"ratio is at least {RATIO_MARGIN} and every 8-view run at the chosen learning rate is within {CONVERGED_MM:g} "
    f"mm (MPJPE) of its step-{STEPS} value ({STEPS} if none); learning rate: {DEFAULT_LR:g} unless the "
    f"{OTHER_LR:g} run ends more than {CONVERGED_MM:g} mm lower with a thickness ratio of at least {RATIO_MARGIN}"
)


def pilot_protocol(p: Protocol, run: PilotRun) -> Protocol:
    """The study's protocol with the pilot's schedule and learning rate."""
    return replace(p, pre_steps=STEPS, pre_lr=run.lr)


def curve(run_dir: Path) -> list[dict[str, float]]:
    """The validation rows of a training's metrics.jsonl (the last one per step: a resumed run repeats lines)."""
    rows: dict[int, dict[str, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("kind") == "val":
            rows[int(row["step"])] = {k: row[k] for k in ("mpjpe", "pa_mpjpe", "thickness_mm", "thickness_ratio")}
    return [{"step": step, **rows[step]} for step in sorted(rows)]


def load(layout: Layout) -> dict[str, dict[str, Any]]:
    """The stored pilot results, by pilot run name."""
    paths = {r.name: layout.pilot_result(r.name) for r in PILOT}
    return {name: json.loads(path.read_text(encoding="utf-8")) for name, path in paths.items() if path.is_file()}


def decide(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The rule (``RULE``) on the pilot's curves: ``{"steps", "lr", "why"}``, or None until every pilot run has one."""
    if set(results) != set(PILOT_BY_NAME):
        return None
    at = {name: {row["step"]: row for row in r["curve"]} for name, r in results.items()}
    final = {name: rows[STEPS] for name, rows in at.items()}
    default = PilotRun("views8", DEFAULT_LR, 100).name
    other = PilotRun("views8", OTHER_LR, 100).name
    better = final[default]["mpjpe"] - final[other]["mpjpe"]
    lr = OTHER_LR if better > CONVERGED_MM and final[other]["thickness_ratio"] >= RATIO_MARGIN else DEFAULT_LR
    views8 = [r.name for r in PILOT if r.run == "views8" and r.lr == lr]
    steps, why = STEPS, f"no earlier validation step met the rule; {STEPS}"
    for n in range(VAL_EVERY, STEPS + 1, VAL_EVERY):
        thick = all(rows.get(n, {}).get("thickness_ratio", 0.0) >= RATIO_MARGIN for rows in at.values())
        close = all(n in at[v] and at[v][n]["mpjpe"] - final[v]["mpjpe"] <= CONVERGED_MM for v in views8)
        if thick and close:
            steps, why = n, f"step {n} is the first at which every run is thick and the 8-view runs are converged"
            break
    sd = Summary(tuple(final[r.name]["mpjpe"] for r in PILOT if r.run == "views8" and r.lr == DEFAULT_LR)).std
    return {"steps": steps, "lr": lr, "why": why, "lr_gain_mm": better, "seed_sd_mm": sd,
            "two_se_3v3_mm": 2 * sd * math.sqrt(2 / 3), "two_se_5v5_mm": 2 * sd * math.sqrt(2 / 5)}  # fmt: skip


def markdown(results: dict[str, dict[str, Any]]) -> list[str]:
    """The pilot's curves and decision, for study.md's protocol section."""
    lines = ["### Pilot", "", f"Pre-trainings with pilot seeds the study never reports, {STEPS} steps each, "
             f"validated every {VAL_EVERY} steps on the held-out motions only (tools/study/pilot.py). Rule, written "
             f"before the pilot ran: {RULE}.", "",
             "| pilot run | " + " | ".join(f"step {n}" for n in range(VAL_EVERY, STEPS + 1, VAL_EVERY)) + " |",
             "|" + " --- |" * (1 + STEPS // VAL_EVERY)]  # fmt: skip
    for r in PILOT:
        res = results.get(r.name)
        if res is None:
            lines.append(f"| `{r.name}` | " + " | ".join("—" for _ in range(STEPS // VAL_EVERY)) + " |")
            continue
        rows = {row["step"]: row for row in res["curve"]}
        cells = [f"{rows[n]['mpjpe']:.1f} mm, {rows[n]['thickness_ratio']:.2f}" if n in rows else "—"
                 for n in range(VAL_EVERY, STEPS + 1, VAL_EVERY)]  # fmt: skip
        lines.append(f"| `{r.name}` | " + " | ".join(cells) + " |")
    lines += ["", "Cells: validation MPJPE on the held-out motions, thickness ratio (predicted / true smallest "
              "principal extent of the mesh).", ""]  # fmt: skip
    d = decide(results)
    if d is None:
        return lines + ["Decision: not yet (the pilot has not finished).", ""]
    return lines + [
        f"Decision: **{d['steps']} steps at lr {d['lr']:g}** ({d['why']}; 2e-3 minus 1e-3 at the end: "
        f"{-d['lr_gain_mm']:+.1f} mm). Seed-to-seed standard deviation of the 8-view validation MPJPE: "
        f"{d['seed_sd_mm']:.1f} mm (two seeds), so 2 SE of a 3-vs-3 comparison is about {d['two_se_3v3_mm']:.1f} mm "
        f"and of a 5-vs-5 one {d['two_se_5v5_mm']:.1f} mm.",
        "",
    ]
