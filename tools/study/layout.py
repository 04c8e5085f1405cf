"""Where the study keeps everything: its working files under ``--out`` and its result files under ``--results``
(in the repository, committed as they land); what it records about itself: the markers of finished tasks, the
commit it ran from, the wall and CPU seconds of a block."""

from __future__ import annotations

import contextlib
import json
import resource
import shlex
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.study.protocol import RUN_BY_KEY, Unit

REPO = Path(__file__).resolve().parents[2]
# What the study writes into the repository (paths relative to it): the results file and plot, the README headline
RESULTS_IN_REPO, README_IN_REPO = "docs/results", "README.md"
DEFAULT_RESULTS = REPO / RESULTS_IN_REPO
DATA_TASKS = ("corpus", "images", "pose_network", "pose_maps")


@dataclass(frozen=True)
class Layout:
    """Where the study keeps everything: working files (data, runs, logs, markers) under ``out``; the result files
    the report is written from under ``store`` (``<--results>/study``: one JSON file per unit in ``runs/``, per
    pilot run in ``pilot/``), small enough to commit as each lands, so that a new checkout loses nothing."""

    out: Path
    store: Path

    @property
    def data(self) -> Path:  # paths.data_root of every run
        return self.out / "data"

    @property
    def results(self) -> Path:
        return self.store / "runs"

    def pilot_result(self, name: str) -> Path:
        """A pilot run's result file (tools/study/pilot.py)."""
        return self.store / "pilot" / f"{name}.json"

    @property
    def pose_maps(self) -> Path:
        return self.out / "pose_maps"

    def result(self, unit: Unit) -> Path:
        return self.results / f"{unit.name}.json"

    def run_dir(self, name: str) -> Path:
        return self.out / "runs" / name

    def eval_dir(self, name: str) -> Path:
        return self.out / "evals" / name

    def log(self, task: str) -> Path:
        return self.out / "logs" / f"{task.replace(':', '-')}.log"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextlib.contextmanager
def timed(record: dict[str, dict[str, float]], key: str) -> Iterator[None]:
    """Record the wall-clock and CPU seconds of the block under ``record[key]``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield
    record[key] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu_seconds() - cpu, 2)}


def command(name: str, args: Sequence[str]) -> str:
    return " ".join([name, *(shlex.quote(a) for a in args)])


def git_commit() -> str:
    """The code the study runs: the checkout's last commit that changed anything but the files the study writes
    itself (its result files, results file and plot, the README headline; ``--commit`` adds a commit per result),
    with ``+dirty`` when other tracked files have uncommitted changes (a study's first report rewrites its own files
    before any training starts)."""
    own = [f":(exclude){RESULTS_IN_REPO}", f":(exclude){README_IN_REPO}"]
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%H", "--", ".", *own], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *own], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def commit_files(paths: Sequence[Path], message: str) -> str | None:
    """Commit ``paths`` (and nothing else) to the checkout's current branch; None when done, else why not (the study
    goes on: its result files stay on disk)."""
    try:
        subprocess.run(["git", "add", "--", *map(str, paths)], cwd=REPO, capture_output=True, text=True, check=True)
        subprocess.run(["git", "commit", "-q", "-m", message, "--", *map(str, paths)], cwd=REPO, capture_output=True,
                       text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        return str(getattr(exc, "stderr", "") or exc).strip()
    return None


def _unit(name: str) -> Unit:
    run_key, seed = name.rsplit("_s", 1)
    return Unit(RUN_BY_KEY[run_key], int(seed))


def marker(layout: Layout, task: str) -> Path:
    """The file whose presence says ``task`` is done (an evaluation's is its unit's result)."""
    kind, _, name = task.partition(":")
    if kind == "eval":
        return layout.result(_unit(name))
    if kind == "pilot":
        return layout.pilot_result(name)
    return layout.out / "done" / f"{task.replace(':', '-')}.json"


def data_timing(layout: Layout) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds of the data tasks, from their markers."""
    out: dict[str, dict[str, float]] = {}
    for task in DATA_TASKS:
        path = marker(layout, task)
        if path.is_file():
            out.update(json.loads(path.read_text(encoding="utf-8")).get("timing", {}))
    return out
