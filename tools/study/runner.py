"""The paper's effects in miniature: train and evaluate every compared setting on the stand-in data, several seeds
each, and write the results beside the paper's numbers.

    python -m tools.study [--out outputs/study] [--results docs/results] [--scale 1] [--seeds 3]
        [--device cpu|cuda] [--jobs N] [--threads N] [--steps N] [--protocol-only] [--report-only]

What is trained, measured and compared, and the criterion, are in tools/study/protocol.py; the results file states
them before any number. One command does everything:

1. the protocol: ``<out>/protocol.json`` (an output folder holds the results of one protocol only: another
   ``--scale``, ``--seeds`` or ``--steps`` needs another ``--out``; a protocol that changes only the image side, the
   renders, pose network or fine-tuning, takes over the folder and keeps its pre-trainings:
   :func:`check_protocol`), and the results file with the protocol and no results yet (``--protocol-only`` stops
   here);
2. the tasks (:func:`tasks`), each once what it needs is done, ``--jobs`` at a time in worker processes (default:
   one per 2 CPU cores on a CPU, one on a GPU), each with ``--threads`` torch threads:

   - the data, under ``<out>/data`` in the layout of ``paths.data_root``: the study motion corpus
     (tools/standin/make_assets.py --size study) and its motion cache (validation: held-out subjects); the image sets,
     rendered from motions pre-training never sees (tools/standin/make_tsv.py on the corpus's image motions); the
     stand-in pose network, trained on keypoint images of motions no protocol-2 subject performs
     (tools/standin/train_pose.py), and its maps of the protocol-2 images (tools/study/evaluation.py);
   - per (run, seed), a *unit*: its training (``mpt-pretrain`` / ``mpt-finetune`` with the run's experiment
     config, into ``<out>/runs/<run>_s<seed>``), then its evaluations, whose result goes to
     ``<out>/results/<run>_s<seed>.json``;

   every finished task leaves a marker (``<out>/done/``, or the result file) written atomically, naming the
   protocol it ran under, and a task with a marker of this protocol is never redone: an interrupted study goes on
   where it stopped. Each task's output is in ``<out>/logs/<task>.log``;
3. the report, from the stored results only: ``<results>/study.md`` and ``<results>/study.png``
   (tools/study/report.py); ``--report-only`` does just this. With the default ``--results``, the headline
   between the study markers in README.md is rewritten too.

``--scale F`` multiplies the corpus, the image sets and every step count (batch sizes and learning rates stay);
with ``--device cuda`` the same study runs on a GPU. ``--steps N`` sets every step count to N (smoke runs, CI).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mpt.atomic import write_json_atomic
from mpt.errors import MptError
from tools.study.data import DATA, _device, oracle_keypoints, pose_backbone
from tools.study.layout import (
    DEFAULT_RESULTS,
    README_IN_REPO,
    REPO,
    Layout,
    _unit,
    command,
    commit_files,
    git_commit,
    marker,
    timed,
)
from tools.study.protocol import Protocol, Run, Unit, protocol_for, units

# A training checkpoints every this many steps and at its end, so that a study interrupted mid-training (a session
# that ends, a machine that goes) loses at most this many steps of each running unit (a 1000-step pre-training takes
# about 26 minutes on a 2-core CPU with two at a time).
CKPT_EVERY = 250


class StudyError(MptError):
    """The study cannot go on (another protocol in the output folder)."""


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so also what libraries print) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# ---------------------------------------------------------------------------------------------------------------
# Units: training and evaluation of one (run, seed)


def common_overrides(layout: Layout, p: Protocol, out_dir: Path) -> list[str]:
    return [f"paths.data_root={layout.data}", f"paths.output_dir={out_dir}", f"device={p.device}"]


def input_overrides(run: Run, p: Protocol) -> list[str]:
    """The study's input of a run: maps of side p.map_side(run) (heatmaps: Gaussian sigma = side / 28 px, as the
    paper's 8 px at 224) of the p.crop_size person crop that every image step reads."""
    side = p.map_side(run)
    kind = "mask" if run.experiment.endswith("_mask") else "heatmap"
    sigma = [] if kind == "mask" else [f"input.sigma={side / 28:g}"]
    return [f"input.size={side}", *sigma, f"input.crop_size={p.crop_size}"]


def train_overrides(unit: Unit, layout: Layout, p: Protocol, val_every: int | None = None,
                    out_dir: Path | None = None) -> list[str]:  # fmt: skip
    """The mpt-pretrain / mpt-finetune command line of a unit (after the command name); ``val_every``: validate
    this often (default: at the end only); ``out_dir``: its run folder (default: the unit's)."""
    run = unit.run
    pre = run.stage == "pretrain"
    steps, batch, lr = (p.pre_steps, p.pre_batch, p.pre_lr) if pre else (p.ft_steps, p.ft_batch, p.ft_lr)
    args = [f"experiment={run.experiment}", *p.model, *input_overrides(run, p), *run.overrides, f"seed={unit.seed}",
            f"train.max_steps={steps}", f"train.micro_batch={batch}", f"train.lr={lr}", "train.epochs=1000",
            f"train.val_every={val_every or steps}", f"train.ckpt_every={min(steps, CKPT_EVERY)}",
            f"train.log_every={max(1, steps // 10)}", "train.resume=true"]  # fmt: skip
    if pre:
        args.append(f"train.max_val_samples={p.val_samples}")
    else:
        init = layout.run_dir(unit.needs) if unit.needs else "null"
        args += [*pose_backbone(), "data=demo_mixed", "data.val=null", f"train.init_from={init}",
                 "train.num_workers=1"]  # fmt: skip
    return [*args, *common_overrides(layout, p, out_dir or layout.run_dir(unit.name))]


def eval_overrides(unit: Unit, layout: Layout, p: Protocol, out_dir: Path) -> list[str]:
    """mpt-eval of a unit's export on the protocol-2 images of the study's data."""
    return [f"checkpoint={layout.run_dir(unit.name)}", *common_overrides(layout, p, out_dir)]


def train_unit(unit: Unit, layout: Layout, p: Protocol, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train one unit into its run folder (or as ``overrides`` say); what its evaluation needs to know (command,
    steps, final validation, timing)."""
    from mpt.config import compose_config

    overrides = overrides or train_overrides(unit, layout, p)
    timing: dict[str, dict[str, float]] = {}
    with timed(timing, "train"):
        if unit.run.stage == "pretrain":
            from mpt.engine.pretrain import pretrain

            trained = pretrain(compose_config("pretrain", overrides))
        else:
            from mpt.engine.finetune import finetune

            trained = finetune(compose_config("finetune", overrides))
    return {"command": command(f"mpt-{unit.run.stage}", overrides), "steps": trained["steps"],
            "val": trained["metrics"], "timing": timing}  # fmt: skip


def evaluate_pretrained(unit: Unit, layout: Layout, p: Protocol) -> dict[str, dict[str, float]]:
    """The ``pose`` and ``oracle`` zero-shot protocols of a pre-trained model (tools/study/protocol.py)."""
    from mpt.config import compose_config
    from mpt.engine.evaluate import evaluate
    from mpt.engine.image_batches import build_image_set
    from tools.study.evaluation import load_map_model, pose_map_errors, silhouette_errors

    out_dir = layout.eval_dir(unit.name)
    cfg = compose_config("eval", ["backbone=none", *eval_overrides(unit, layout, p, out_dir)])
    device = _device(p)
    model, body, mcfg = load_map_model(cfg, device)
    out = {"pose": pose_map_errors(model, mcfg.input.size, layout.pose_maps, body, device)}
    if mcfg.input.kind == "mask":
        dataset = build_image_set(cfg.data, train=False, seed=cfg.seed, img_size=cfg.input.crop_size)
        out["oracle"] = silhouette_errors(model, mcfg.input.size, dataset, body, device)
    else:
        oracle = [*oracle_keypoints(), *eval_overrides(unit, layout, p, out_dir / "oracle")]
        out["oracle"] = evaluate(compose_config("eval", oracle))["metrics"]
    return out


def evaluate_unit(unit: Unit, layout: Layout, p: Protocol, trained: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a trained unit under its protocols and write its result file."""
    from mpt.config import compose_config
    from mpt.engine.evaluate import evaluate

    timing = dict(trained["timing"])
    with timed(timing, "evaluate"):
        if unit.run.stage == "pretrain":
            metrics = {"val": trained["val"], **evaluate_pretrained(unit, layout, p)}
        else:
            cfg = compose_config("eval", eval_overrides(unit, layout, p, layout.eval_dir(unit.name)))
            metrics = {"finetuned": evaluate(cfg)["metrics"]}
    result = {"unit": unit.name, "run": unit.run.key, "seed": unit.seed, "stage": unit.run.stage,
              "command": trained["command"], "steps": trained["steps"], "metrics": metrics, "timing": timing,
              "commit": git_commit(), **stamp(p)}  # fmt: skip
    write_json_atomic(layout.result(unit), result)
    # The export stays (fine-tunings start from it); the DeepSpeed checkpoint (weights + Adam) is not needed again.
    shutil.rmtree(layout.run_dir(unit.name) / "checkpoints", ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Tasks


def pilot_tasks() -> dict[str, tuple[str, ...]]:
    """The pilot (tools/study/pilot.py): the motion corpus, then one task per pilot run."""
    from tools.study.pilot import PILOT

    return {"corpus": (), **{f"pilot:{r.name}": ("corpus",) for r in PILOT}}


def run_pilot(name: str, layout: Layout, p: Protocol) -> None:
    """Train one pilot run, validating as the pilot does, and write its curve (the task's marker)."""
    from tools.study import pilot

    run = pilot.PILOT_BY_NAME[name]
    run_dir = layout.out / "pilot" / name
    overrides = train_overrides(run.unit, layout, pilot.pilot_protocol(p, run), pilot.VAL_EVERY, run_dir)
    trained = train_unit(run.unit, layout, p, overrides)
    write_json_atomic(layout.pilot_result(name), {
        "name": name, "run": run.run, "lr": run.lr, "seed": run.seed, "steps": trained["steps"],
        "curve": pilot.curve(run_dir), "command": trained["command"], "timing": trained["timing"],
        "commit": git_commit(), "protocol": p.fingerprint()})  # fmt: skip
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def tasks(p: Protocol) -> dict[str, tuple[str, ...]]:
    """Every task of the study -> the tasks it needs, in order of priority (a topological order).

    Data: ``corpus`` (motions and motion cache), ``images``, ``pose_network``, ``pose_maps``; per unit,
    ``train:<unit>`` and ``eval:<unit>``. An evaluation goes before any training once it can run; pre-trainings go
    before fine-tunings, which need the pose network (and the pre-training they start from).
    """
    graph: dict[str, tuple[str, ...]] = {"corpus": (), "images": ("corpus",), "pose_network": ("images",),
                                         "pose_maps": ("pose_network",)}  # fmt: skip
    evals, trains = {}, {}
    for u in units(p):
        if u.run.stage == "pretrain":
            trains[f"train:{u.name}"] = ("corpus",)
            evals[f"eval:{u.name}"] = (f"train:{u.name}", "pose_maps")
        else:
            trains[f"train:{u.name}"] = ("pose_network",) + ((f"train:{u.needs}",) if u.needs else ())
            evals[f"eval:{u.name}"] = (f"train:{u.name}",)
    return {**graph, **evals, **trains}


def carried_over(task: str) -> bool:
    """Whether ``task`` depends on the pre-training side of the protocol only (``Protocol.pretrain_fingerprint``):
    the motion corpus and the pre-trainings. Every other task depends on all of it."""
    kind, _, name = task.partition(":")
    return task == "corpus" or (kind == "train" and _unit(name).run.stage == "pretrain")


def stamp(p: Protocol) -> dict[str, str]:
    """What a marker records of the protocol it was written under."""
    return {"protocol": p.fingerprint(), "pretrain_protocol": p.pretrain_fingerprint()}


def is_done(layout: Layout, task: str, p: Protocol) -> bool:
    """Whether ``task`` has a marker written under ``p`` (for a pre-training or the corpus: under a protocol with
    the same pre-training side). A pilot run's marker is its result file, kept whatever came after."""
    path = marker(layout, task)
    if not path.is_file():
        return False
    if task.startswith("pilot:"):
        return True
    record = json.loads(path.read_text(encoding="utf-8"))
    key = "pretrain_protocol" if carried_over(task) else "protocol"
    return record.get(key) == stamp(p)[key]


def run_task(task: str, layout: Layout, p: Protocol) -> None:
    """Do one task, its output into its log, and write its marker."""
    kind, _, name = task.partition(":")
    with output_to(layout.log(task)):
        if kind == "pilot":
            run_pilot(name, layout, p)
            return
        if kind == "eval":
            trained = json.loads(marker(layout, f"train:{name}").read_text(encoding="utf-8"))
            evaluate_unit(_unit(name), layout, p, trained)
            return
        if kind == "train":
            record = train_unit(_unit(name), layout, p)
        else:
            timing: dict[str, dict[str, float]] = {}
            with timed(timing, kind):
                DATA[kind](layout, p)
            record = {"timing": timing}
    write_json_atomic(marker(layout, task), {**record, **stamp(p)})


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_tasks(layout: Layout, p: Protocol, jobs: int, threads: int, graph: dict[str, tuple[str, ...]] | None = None,
              on_done: Callable[[str], None] | None = None) -> list[str]:  # fmt: skip
    """Run every task of ``graph`` (default: the study's) without a marker once its needs are done, ``jobs`` at a
    time (in worker processes when more than one), calling ``on_done(task)`` after each; returns the failures, one
    line each (what needs a failed task is not run)."""
    graph = tasks(p) if graph is None else graph
    done = {t for t in graph if is_done(layout, t, p)}
    pending = [t for t in graph if t not in done]
    failed: dict[str, str] = {}
    print(f"{len(done)} of {len(graph)} tasks done before; {len(pending)} to run, {jobs} at a time with {threads} "
          "thread(s) each", flush=True)  # fmt: skip

    def finish(task: str, start: float, error: str | None) -> None:
        if error is None:
            done.add(task)
            print(f"[{len(done)}/{len(graph)}] {task} ({time.perf_counter() - start:.0f} s)", flush=True)
            if on_done is not None:
                on_done(task)
        else:
            failed[task] = error.strip().splitlines()[-1]
            print(f"FAILED {task}: {failed[task]} (log: {layout.log(task)})", flush=True)

    def take_ready(limit: int) -> list[str]:
        for t in [t for t in pending if any(n in failed for n in graph[t])]:
            failed[t] = "not run: needs " + ", ".join(n for n in graph[t] if n in failed)
            pending.remove(t)
        ready = [t for t in pending if all(n in done for n in graph[t])][: max(0, limit)]
        for t in ready:
            pending.remove(t)
        return ready

    if jobs <= 1:
        _init_worker(threads)
        while ready := take_ready(1):
            start = time.perf_counter()
            try:
                run_task(ready[0], layout, p)
                finish(ready[0], start, None)
            except Exception:  # noqa: BLE001 - one failed task must not stop the others
                finish(ready[0], start, traceback.format_exc())
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                    initargs=(threads,)) as pool:  # fmt: skip
            running: dict[cf.Future, tuple[str, float]] = {}
            while True:
                for t in take_ready(jobs - len(running)):
                    running[pool.submit(run_task, t, layout, p)] = (t, time.perf_counter())
                if not running:
                    break
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    t, start = running.pop(fut)
                    error = None if fut.exception() is None else "".join(traceback.format_exception(fut.exception()))
                    finish(t, start, error)
    return [f"{k}: {v}" for k, v in failed.items()]


def check_protocol(layout: Layout, p: Protocol) -> None:
    """Write ``protocol.json``, or check that the folder's results belong to this protocol.

    A protocol that shares the folder's pre-training side (``Protocol.pretrain_fingerprint``) takes the folder over:
    its pre-trainings (hours each) are carried over, every other task runs again (the stand-in's data, every
    evaluation, the fine-tunings), and ``protocol.json`` keeps the earlier protocols under ``earlier``. Any other
    protocol is refused."""
    path = layout.out / "protocol.json"
    record = {"fingerprint": p.fingerprint(), "pretrain_fingerprint": p.pretrain_fingerprint(), "protocol": p.as_dict()}
    if not path.is_file():
        write_json_atomic(path, record)
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    old = Protocol.from_dict(stored["protocol"])
    stamp_markers(layout, {"protocol": stored["fingerprint"], "pretrain_protocol": old.pretrain_fingerprint()})
    if stored["fingerprint"] == p.fingerprint():
        return
    if old.pretrain_fingerprint() != p.pretrain_fingerprint():
        raise StudyError(f"{layout.out} holds the results of another protocol ({path}: {stored.get('protocol')});"
                         " give another --out for this one, or delete the folder to start over")  # fmt: skip
    changed = sorted(k for k, v in p.as_dict().items() if k != "device" and stored["protocol"].get(k) != v)
    print(f"{layout.out} held protocol {stored['fingerprint']}; protocol {p.fingerprint()} changes "
          f"{', '.join(changed)} only: its pre-trainings are carried over, every other task runs again", flush=True)
    earlier = [*stored.get("earlier", []), {k: v for k, v in stored.items() if k != "earlier"}]
    write_json_atomic(path, {**record, "earlier": earlier})


def stamp_markers(layout: Layout, fingerprints: dict[str, str]) -> None:
    """Name the folder's protocol in the markers of ``<out>/done/`` written before markers named it."""
    for path in sorted((layout.out / "done").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if "protocol" not in record:
            write_json_atomic(path, {**record, **fingerprints})


def run_command(layout: Layout, invocation: str, record: bool) -> str:
    """The command the results file names: this one when it runs tasks (``record``, kept in ``run.json``), else the
    last command that did (``--report-only`` rewrites the report of a study run earlier)."""
    path = layout.out / "run.json"
    if record:
        write_json_atomic(path, {"command": invocation})
        return invocation
    if path.is_file():
        return str(json.loads(path.read_text(encoding="utf-8"))["command"])
    return invocation


def commit_result(layout: Layout, task: str, paths: Sequence[Path] = ()) -> None:
    """Commit what a finished task left in the result store (a unit's or pilot run's result file, the stand-in's
    PCK), or ``paths`` (the report's files); say so when git refuses."""
    from tools.study.data import stand_in_file

    if not paths:
        if task == "pose_network":
            paths = [stand_in_file(layout)]
        elif task.partition(":")[0] in ("eval", "pilot"):
            paths = [marker(layout, task)]
    if paths and (why := commit_files(paths, f"study: {task}")) is not None:
        print(f"warning: could not commit {', '.join(map(str, paths))}: {why}", flush=True)


def pilot_main(layout: Layout, p: Protocol, jobs: int, threads: int,
               on_done: Callable[[str], None] | None) -> int:  # fmt: skip
    """``--pilot``: the pilot's runs, then its decision (study.md prints it with the protocol)."""
    from tools.study import pilot

    failures = run_tasks(layout, p, jobs, threads, pilot_tasks(), on_done)
    results = pilot.load(layout)
    print("\n".join(pilot.markdown(results)), flush=True)
    if failures:
        print("failed tasks:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0 if pilot.decide(results) is not None else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m tools.study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/study"), help="working folder (data, runs, results)")
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where study.md and study.png go")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply data sizes and step counts (e.g. 10)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per run (at least 3 for the study's verdicts)")
    ap.add_argument("--views-seeds", type=int, default=5, help="seeds of Table 2's four views rows")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--jobs", type=int, default=None, help="tasks at once (default: cores // 2 on cpu, 1 on cuda)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per task (default: cores // jobs)")
    ap.add_argument("--steps", type=int, default=None, help="every step count (smoke runs and tests)")
    ap.add_argument("--protocol-only", action="store_true", help="write the protocol and the empty results file")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the results file and plot")
    ap.add_argument("--pilot", action="store_true", help="run the pilot (tools/study/pilot.py) instead of the study")
    ap.add_argument("--commit", action="store_true", help="git-commit each result file as it lands (long runs)")
    args = ap.parse_args(argv)
    from tools.study.report import write_report

    start = time.perf_counter()
    try:
        p = protocol_for(args.scale, args.seeds, args.device, args.steps, args.views_seeds)
        layout = Layout(args.out.resolve(), args.results.resolve() / "study")
        cores = os.cpu_count() or 1
        jobs = max(1, args.jobs or (1 if args.device != "cpu" else cores // 2))
        threads = max(1, args.threads or cores // jobs)
        readme = REPO / README_IN_REPO if args.results.resolve() == DEFAULT_RESULTS else None
        on_done = (lambda task: commit_result(layout, task)) if args.commit else None
        if args.pilot:
            return pilot_main(layout, p, jobs, threads, on_done)
        check_protocol(layout, p)
        invocation = run_command(layout, command("python -m tools.study", argv), record=not args.report_only)

        def report() -> Sequence[Path]:
            written = write_report(layout, p, args.results, invocation, readme)
            for path in written:
                print(f"wrote {path}", flush=True)
            return written

        report()
        if args.report_only or args.protocol_only:
            return 0
        failures = run_tasks(layout, p, jobs, threads, on_done=on_done)
        written = report()
        if args.commit:
            commit_result(layout, "report", written)
    except (MptError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"study finished in {time.perf_counter() - start:.0f} s")
    if failures:
        print("failed tasks (the report leaves them out):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
