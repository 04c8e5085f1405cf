"""tools/study: the protocol, the verdict criterion against hand computations, the report written from stored
results, and (slow) the whole runner end to end at a tiny size: every row in the results file, the plot, no unit
run twice, another protocol in the same folder refused."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.study.protocol import RUN_BY_KEY, RUNS, SECTIONS, protocol_for, units
from tools.study.report import headline, report_markdown
from tools.study.results import Results, Summary, verdict


def test_summary_matches_the_statistics_module():
    values = (101.5, 97.25, 110.0, 99.0)
    s = Summary(values)
    assert s.n == 4
    assert s.mean == pytest.approx(statistics.mean(values))
    assert s.std == pytest.approx(statistics.stdev(values))  # sample standard deviation (n - 1)
    assert s.text() == f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
    assert Summary((5.0,)).text() == "5.0" and Summary(()).text() == "—"


@pytest.mark.parametrize(
    ("better", "worse", "expected"),
    [
        # means 12 and 22, standard deviations 2 and 2: d = -10, SE = sqrt(4/3 + 4/3) = 1.633
        ((10.0, 12.0, 14.0), (20.0, 22.0, 24.0), ("agrees", -10.0, (8 / 3) ** 0.5)),
        ((20.0, 22.0, 24.0), (10.0, 12.0, 14.0), ("opposite", 10.0, (8 / 3) ** 0.5)),
        # d = -1 against 2 SE = 3.27
        ((10.0, 12.0, 14.0), (11.0, 13.0, 15.0), ("inconclusive", -1.0, (8 / 3) ** 0.5)),
        # d = -3.2 against 2 SE = 2 * sqrt(1/3 + 4/3) = 2.58: agrees; with unequal spreads
        ((11.0, 12.0, 13.0), (13.2, 15.2, 17.2), ("agrees", -3.2, (5 / 3) ** 0.5)),
    ],
)
def test_verdict_is_the_two_standard_error_criterion(better, worse, expected):
    word, d, se = expected
    v = verdict(Summary(better), Summary(worse))
    assert v.verdict == word
    assert v.d == pytest.approx(d) and v.se == pytest.approx(se)


def test_verdict_without_claim_or_seeds():
    a, b = Summary((10.0, 12.0, 14.0)), Summary((20.0, 22.0, 24.0))
    assert verdict(a, b, directional=False).verdict == "lower with the first"
    assert verdict(b, a, directional=False).verdict == "lower with the second"
    assert verdict(a, Summary((11.0, 13.0, 15.0)), directional=False).verdict == "within 2 SE"
    assert verdict(Summary((1.0,)), Summary((2.0,))).verdict == "one seed: no verdict"
    assert verdict(Summary(()), b).verdict == "no result"


def test_protocol_scales_data_and_steps_only():
    one, ten = protocol_for(1.0), protocol_for(10.0, device="cuda")
    assert ten.corpus_scale == 10 and ten.n_eval == 10 * one.n_eval and ten.n_ft_h36m == 10 * one.n_ft_h36m
    assert (ten.pre_steps, ten.ft_steps) == (10 * one.pre_steps, 10 * one.ft_steps)
    assert (ten.map_size, ten.crop_size, ten.pose_sha256) == (one.map_size, one.crop_size, one.pose_sha256)
    assert (ten.pre_batch, ten.pre_lr, ten.ft_batch, ten.ft_lr) == (one.pre_batch, one.pre_lr, one.ft_batch, one.ft_lr)
    assert ten.fingerprint() != one.fingerprint()
    # the device does not change what is measured; the seeds and step counts do
    assert protocol_for(1.0, device="cuda").fingerprint() == one.fingerprint()
    assert protocol_for(1.0, seeds=5).fingerprint() != one.fingerprint()
    assert protocol_for(1.0, views_seeds=3).fingerprint() != one.fingerprint()
    smoke = protocol_for(0.01, seeds=1, steps=2, views_seeds=1)
    assert (smoke.pre_steps, smoke.ft_steps, smoke.seeds, smoke.views_seeds) == (2, 2, (0,), (0,))
    for bad in ({"scale": 0.0}, {"seeds": 0}, {"views_seeds": 0}, {"steps": 0}):
        with pytest.raises(ValueError):
            protocol_for(**bad)


def test_units_cover_every_row_and_fine_tune_after_their_start():
    p = protocol_for(seeds=3)
    order = [u.name for u in units(p)]
    views = {"views1", "views2", "views4", "views8"}
    # five seeds for Table 2's four rows, three for the other eight: 4 * 5 + 8 * 3
    assert len(order) == len(set(order)) == 44
    assert set(order) == {f"{r.key}_s{s}" for r in RUNS for s in range(5 if r.key in views else 3)}
    for i, u in enumerate(units(p)):
        if u.needs is not None:
            assert u.needs in order[:i] and RUN_BY_KEY[u.run.init].stage == "pretrain"
    shown = {key for s in SECTIONS for key in s.runs}
    assert shown == {r.key for r in RUNS} - {"hm28"}  # hm28 is only the start of ft_hm28


def test_every_run_reads_the_study_maps_and_crop(tmp_path):
    from tools.study.layout import Layout
    from tools.study.protocol import Unit
    from tools.study.runner import train_overrides

    p = protocol_for(seeds=3)
    layout = Layout(tmp_path / "out", tmp_path / "store")
    for r in RUNS:
        args = train_overrides(Unit(r, 0), layout, p)
        size = 28 if r.key in ("hm28", "ft_hm28") else 56
        assert f"input.size={size}" in args and "input.crop_size=128" in args, r.key
        # the paper's 8 px Gaussian at 224, scaled: 2 px at 56, 1 px at 28; masks have no sigma
        assert [a for a in args if a.startswith("input.sigma")] == ([] if r.key == "mask" else
                                                                    [f"input.sigma={size // 28}"])  # fmt: skip


def _result(unit_name: str, run: str, seed: int, metrics: dict, protocol: str) -> dict:
    return {"unit": unit_name, "run": run, "seed": seed, "stage": RUN_BY_KEY[run].stage, "command": "mpt-x",
            "steps": 2, "metrics": metrics, "commit": "abc", "protocol": protocol,
            "timing": {"train": {"wall_s": 10.0, "cpu_s": 15.0}, "evaluate": {"wall_s": 2.0, "cpu_s": 3.0}}}  # fmt: skip


def _write_results(folder: Path, p, error, thickness=lambda run, seed: 0.9) -> None:
    """A result per unit; zero-shot and fine-tuned MPJPE = error(run, seed), PA-MPJPE = half of it, rotation error
    a tenth; the pre-trainings' thickness ratio thickness(run, seed)."""
    folder.mkdir(parents=True)
    for u in units(p):
        e = error(u.run.key, u.seed)
        m = {"mpjpe": e, "pa_mpjpe": e / 2, "rotation_error_deg": e / 10, "count": 300}
        metrics = {"finetuned": m} if u.run.stage == "finetune" else {
            "pose": m, "oracle": m, "val": {"mpjpe": e, "pa_mpjpe": e / 2,
                                            "thickness_ratio": thickness(u.run.key, u.seed),
                                            **{f"mpjpe_{c}": e + i for i, c in
                                               enumerate(("54138969", "55011271", "58860488", "60457274"))}}}
        (folder / f"{u.name}.json").write_text(json.dumps(_result(u.name, u.run.key, u.seed, metrics, p.fingerprint())))


def test_report_from_stored_results(tmp_path):
    p = protocol_for(seeds=3)
    # views8 beats views1 by 20 mm with a spread of 1 (agrees); views2 / views4 are noisy around views1's level
    level = {"views1": 120.0, "views2": 119.0, "views4": 121.0, "views8": 100.0, "mask": 150.0, "hm28": 100.0,
             "no_mhm": 100.5, "no_mvm": 100.0, "heading": 95.0, "ft_hm56": 80.0, "ft_hm28": 81.0,
             "ft_scratch": 70.0}  # fmt: skip
    spread = {"views2": 10.0, "views4": 10.0}
    # seeds 0..4 of the views rows, 0..2 of the others: level + spread * (seed - 1); mask seed 2 is flat
    _write_results(tmp_path / "results", p, lambda run, seed: level[run] + spread.get(run, 1.0) * (seed - 1),
                   lambda run, seed: 0.5 if (run, seed) == ("mask", 2) else 0.9)
    results = Results(tmp_path / "results", p)
    md = report_markdown(results, "python -m tools.study", "abc", {"corpus": {"wall_s": 5.0, "cpu_s": 4.0}})
    for r in RUNS:
        assert f"`{r.key}`" in md
    for s in SECTIONS:
        assert f"### {s.title}" in md
    # views8 vs views1: d = -20, five seeds 1 apart each (sd sqrt(2.5)): SE = sqrt(2.5/5 + 2.5/5) = 1.0
    assert "| zero-shot, stand-in pose network | -20.0 ± 1.0 | agrees |" in md
    # the rotation error is shown beside MPJPE / PA-MPJPE: views8's five seeds average (99 + ... + 103) / 10
    assert "rot. error (°) pose" in md and "| 10.1 ± 0.2 |" in md
    assert "paper d = -4.2 / -3.5 mm" in md
    # pre-training vs scratch fine-tuning: scratch is 10 mm better here: opposite
    assert "| fine-tuned, pose network + model | +10.0 ± 0.8 | opposite |" in md
    # heading has no claim: lower with the second (95 < 101), per camera too: SE = sqrt(2.5/5 + 1/3)
    assert "| held-out motions, camera 60457274 | +6.0 ± 0.9 | lower with the second |" in md
    # power targets: mask seed 2 is flagged, not dropped; views8 vs views1 under the oracle: 2 SE = 2.0 (MPJPE) and
    # 1.0 (PA-MPJPE, half the spread) <= 6; views2 vs views1: 2 * sqrt(250/5 + 2.5/5) = 14.2 > 6
    assert "34 of 35 pre-trainings with results; **not trained**: `mask_s2`" in md
    assert "| `mask_s2` | 0.50 **not trained** |" in md
    assert "| `views8` vs `views1` | 2.0 | 1.0 | yes |" in md
    assert "| `views2` vs `views1` | 14.2 | 7.1 | **no** |" in md
    line = headline(results)
    assert "36 of 36" not in line and line.startswith("Of ")
    assert " agree" in line and " agrees" not in line  # a count of checks: "6 agree, 26 inconclusive"
    assert "mean(expected better)" in md  # the criterion is stated


def test_headline_says_when_results_are_missing(tmp_path):
    p = protocol_for(seeds=3)
    (tmp_path / "results").mkdir()
    assert headline(Results(tmp_path / "results", p)).startswith("Not measured yet: 0 of 44")


def test_plot_is_written(tmp_path):
    from tools.study.report import plot

    p = protocol_for(seeds=3)
    _write_results(tmp_path / "results", p, lambda run, seed: 100.0 + seed)
    out = plot(Results(tmp_path / "results", p), tmp_path / "study.png")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 1000
    (tmp_path / "none").mkdir()
    empty = cv2.imread(str(plot(Results(tmp_path / "none", p), tmp_path / "empty.png")))
    # matplotlib's tab colours (RGB) of the protocols: each protocol's bars are drawn in its colour, and only there
    for name, rgb in {"pose": (31, 119, 180), "oracle": (255, 127, 14), "val": (44, 160, 44),
                      "finetuned": (214, 39, 40)}.items():  # fmt: skip
        def pixels(img: np.ndarray, rgb: tuple[int, int, int] = rgb) -> int:
            return int((np.abs(img[..., ::-1].astype(int) - rgb).max(axis=-1) <= 8).sum())

        assert pixels(image) > 50 and pixels(empty) == 0, (name, pixels(image), pixels(empty))


@pytest.mark.slow
def test_the_runner_end_to_end_at_a_tiny_size(tmp_path, capsys):
    """python -m tools.study from nothing to the report: 2 steps per training, 1 seed, the data at 2% of the study's size.
    Every run of every section is in study.md with a result, the plot is an image, a second call re-runs nothing,
    --report-only names the command that ran, and another protocol in the same folder is refused."""
    from tools.study.runner import main

    out, res = tmp_path / "study", tmp_path / "results"
    args = ["--out", str(out), "--results", str(res), "--scale", "0.02", "--seeds", "1", "--views-seeds", "1",
            "--steps", "2", "--jobs", "1", "--threads", "1"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err[-3000:]
    p = protocol_for(0.02, seeds=1, steps=2, views_seeds=1)
    stored_at = res / "study" / "runs"  # the result files, in the repository's results folder (committed)
    assert sorted(f.stem for f in stored_at.glob("*.json")) == sorted(u.name for u in units(p))
    md = (res / "study.md").read_text(encoding="utf-8")
    for r in RUNS:
        assert f"`{r.key}`" in md and f"| `{r.key}_s0` |" in md
    for s in SECTIONS:
        assert f"### {s.title}" in md
    assert "Not measured yet" not in md and "one seed: no verdict" in md
    image = cv2.imread(str(res / "study.png"))
    assert image is not None and image.shape[1] > 1000
    stand_in = json.loads((res / "study" / "stand_in.json").read_text(encoding="utf-8"))
    assert stand_in["crop"] == 128 and 0 <= stand_in["pck@0.1"] <= 1 and "PCK@0.1" in md
    stored = {f.name: f.stat().st_mtime_ns for f in stored_at.iterdir()}
    capsys.readouterr()
    assert main(args) == 0
    n = 2 * len(stored) + 4  # the data tasks, and a training and an evaluation per unit
    assert f"{n} of {n} tasks done before; 0 to run" in capsys.readouterr().out
    assert {f.name: f.stat().st_mtime_ns for f in stored_at.iterdir()} == stored
    # --report-only rewrites the report and names the command that produced the results, not itself
    assert main([*args, "--report-only"]) == 0
    assert f"- Command: `python -m tools.study {' '.join(args)}`" in (res / "study.md").read_text(encoding="utf-8")
    assert main([*args[:-6], "--steps", "3", "--jobs", "1", "--threads", "1"]) == 2
    assert "another protocol" in capsys.readouterr().err


def test_commit_is_dirty_for_code_changes_not_for_the_files_the_study_writes(tmp_path, monkeypatch):
    import subprocess

    from tools.study import layout

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "tools" / "study").mkdir(parents=True)
    for name in ("README.md", "docs/results/study.md", "tools/study/runner.py"):
        (tmp_path / name).write_text("v1\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    head = git("rev-parse", "HEAD")
    monkeypatch.setattr(layout, "REPO", tmp_path)
    assert layout.git_commit() == head
    # the study's first report rewrites its results file and the README headline before any training
    (tmp_path / "README.md").write_text("v2\n")
    (tmp_path / "docs/results/study.md").write_text("v2\n")
    assert layout.git_commit() == head
    # a committed result (--commit) is not a change of the code that produced it
    (tmp_path / "docs/results/study.md").write_text("v3\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "study: eval:views8_s0")
    assert git("rev-parse", "HEAD") != head and layout.git_commit() == head
    (tmp_path / "tools/study/runner.py").write_text("v2\n")
    assert layout.git_commit() == head + "+dirty"


def test_commit_files_commits_the_given_files_and_nothing_else(tmp_path, monkeypatch):
    import subprocess

    from tools.study import layout

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.name", "t")
    git("config", "user.email", "t@t")
    (tmp_path / "code.py").write_text("v1\n")
    git("add", "-A")
    git("commit", "-qm", "v1")
    monkeypatch.setattr(layout, "REPO", tmp_path)
    (tmp_path / "code.py").write_text("v2\n")  # someone's uncommitted work stays uncommitted
    result = tmp_path / "docs" / "study" / "runs" / "views8_s0.json"
    result.parent.mkdir(parents=True)
    result.write_text("{}\n")
    assert layout.commit_files([result], "study: eval:views8_s0") is None
    assert git("log", "-1", "--format=%s") == "study: eval:views8_s0"
    assert git("show", "--name-only", "--format=", "HEAD") == "docs/study/runs/views8_s0.json"
    assert git("status", "--porcelain") == "M code.py"
    # a file git cannot add: the reason, not an exception (the study goes on)
    assert layout.commit_files([tmp_path / "nowhere.json"], "x") is not None


def test_a_protocol_that_changes_only_the_image_side_keeps_the_pre_trainings(tmp_path):
    """Markers written before markers named their protocol (protocol 2) belong to the folder's protocol.json; a
    protocol with another pose network and fine-tuning lr keeps the corpus and the pre-trainings, and redoes the
    image data, every evaluation and the fine-tunings; one with another pre-training step count is refused."""
    from dataclasses import replace

    from tools.study.layout import Layout
    from tools.study.runner import StudyError, check_protocol, is_done

    old = protocol_for()
    layout = Layout(tmp_path / "out", tmp_path / "store")
    check_protocol(layout, old)
    done = layout.out / "done"
    done.mkdir()
    for task in ("corpus", "images", "train-views1_s0", "train-ft_hm56_s0"):  # written by protocol 2: no stamp
        (done / f"{task}.json").write_text(json.dumps({"timing": {}}))
    layout.results.mkdir(parents=True)
    (layout.results / "views1_s0.json").write_text(json.dumps({"protocol": old.fingerprint(), "stage": "pretrain"}))
    tasks = ("corpus", "images", "train:views1_s0", "train:ft_hm56_s0", "eval:views1_s0")
    check_protocol(layout, old)
    assert all(is_done(layout, t, old) for t in tasks)

    new = replace(old, pose_sha256="f" * 64, ft_lr=1e-4)
    assert new.pretrain_fingerprint() == old.pretrain_fingerprint() and new.fingerprint() != old.fingerprint()
    check_protocol(layout, new)
    assert {t: is_done(layout, t, new) for t in tasks} == {
        "corpus": True, "images": False, "train:views1_s0": True, "train:ft_hm56_s0": False, "eval:views1_s0": False}
    stored = json.loads((layout.out / "protocol.json").read_text())
    assert stored["fingerprint"] == new.fingerprint() and stored["earlier"][0]["fingerprint"] == old.fingerprint()
    results = Results(layout.results, new)
    assert results.by_unit == {} and results.superseded == ["views1_s0"]
    check_protocol(layout, new)  # a second start under the new protocol changes nothing
    assert is_done(layout, "train:views1_s0", new) and not is_done(layout, "images", new)
    with pytest.raises(StudyError, match="another protocol"):
        check_protocol(layout, replace(new, pre_steps=999))
