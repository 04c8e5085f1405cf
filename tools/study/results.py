"""The study's stored results read back (one JSON file per (run, seed)), their summaries over seeds, and the
verdict of the study's criterion (tools/study/protocol.py: CRITERION) on two settings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.study.protocol import RUN_BY_KEY, Protocol, units


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (nan for one value) and count of one setting's values over seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    def text(self) -> str:
        if not self.n:
            return "—"
        return f"{self.mean:.1f}" if self.n < 2 else f"{self.mean:.1f} ± {self.std:.1f}"


@dataclass(frozen=True)
class Verdict:
    """A comparison's difference d = mean(better) - mean(worse), its standard error and the verdict."""

    d: float
    se: float
    verdict: str

    def text(self) -> str:
        if math.isnan(self.d):
            return "—"
        return f"{self.d:+.1f} ± {self.se:.1f}" if not math.isnan(self.se) else f"{self.d:+.1f}"


def verdict(better: Summary, worse: Summary, directional: bool = True) -> Verdict:
    """The study's criterion (tools/study/protocol.py: CRITERION) on two settings' values."""
    if not better.n or not worse.n:
        return Verdict(math.nan, math.nan, "no result")
    d = better.mean - worse.mean
    if better.n < 2 or worse.n < 2:
        return Verdict(d, math.nan, "one seed: no verdict")
    se = math.sqrt(better.std**2 / better.n + worse.std**2 / worse.n)
    if abs(d) <= 2 * se:
        return Verdict(d, se, "inconclusive" if directional else "within 2 SE")
    if not directional:
        return Verdict(d, se, "lower with the first" if d < 0 else "lower with the second")
    return Verdict(d, se, "agrees" if d < 0 else "opposite")


class Results:
    """The stored results of a study folder under its protocol: ``results/<run>_s<seed>.json``. A result written
    under an earlier protocol (tools/study/runner.py's ``check_protocol``) is left out and named in ``superseded``
    until its unit is evaluated again."""

    def __init__(self, results_dir: Path, protocol: Protocol) -> None:
        self.protocol = protocol
        self.by_unit: dict[str, dict[str, Any]] = {}
        self.superseded: list[str] = []
        for unit in units(protocol):
            path = results_dir / f"{unit.name}.json"
            if path.is_file():
                result = json.loads(path.read_text(encoding="utf-8"))
                if result.get("protocol") == protocol.fingerprint():
                    self.by_unit[unit.name] = result
                else:
                    self.superseded.append(unit.name)

    @property
    def expected(self) -> int:
        return len(units(self.protocol))

    def values(self, run: str, protocol: str, metric: str) -> Summary:
        """One metric of one run under one protocol (``val_<camera>``: the held-out motions of that camera) over
        the seeds that have a result."""
        out = []
        for seed in self.protocol.seeds_of(RUN_BY_KEY[run]):
            result = self.by_unit.get(f"{run}_s{seed}")
            if result is None:
                continue
            if protocol.startswith("val_"):
                value = result["metrics"].get("val", {}).get(f"{metric}_{protocol[4:]}")
            else:
                value = result["metrics"].get(protocol, {}).get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                out.append(float(value))
        return Summary(tuple(out))

    def commits(self) -> list[str]:
        return sorted({r.get("commit", "unknown") for r in self.by_unit.values()})
