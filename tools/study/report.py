"""The study's results file and plot, written only from the stored results (tools/study).

``study.md``: how it was run (command, commit, machine), the headline, the protocol (tools/study/protocol.py, the
same text before and after the runs), per section the mean +- standard deviation over seeds of every setting beside
the paper's number and the verdict of every comparison, every run's own numbers, and the time each row took.
``study.png``: the error of every setting and protocol, one dot per seed, mean +- standard deviation.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mpt.atomic import atomic_path, write_text_atomic
from tools.study.data import stand_in_file
from tools.study.layout import Layout, data_timing, git_commit
from tools.study.pilot import load as load_pilot
from tools.study.pilot import markdown as pilot_markdown
from tools.study.protocol import (
    CRITERION,
    HISTORY,
    PROTOCOL_NAMES,
    RUN_BY_KEY,
    RUNS,
    SECTIONS,
    Comparison,
    Protocol,
    Section,
    units,
)
from tools.study.results import Results, verdict

METRICS = ("mpjpe", "pa_mpjpe")  # the metrics the criterion judges
ROTATION = "rotation_error_deg"  # shown beside them where the protocol measures it (images: not ``val``)
METRIC_NAMES = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", ROTATION: "rot. error (°)"}
README_START, README_END = "<!-- study-headline:start -->", "<!-- study-headline:end -->"


# ---------------------------------------------------------------------------------------------------------------
# Markdown


def _protocol_label(protocol: str) -> str:
    if protocol.startswith("val_"):
        return f"held-out motions, camera {protocol[4:]}"
    return PROTOCOL_NAMES[protocol]


def _paper_text(section: Section, run: str) -> str:
    """The paper's MPJPE / PA-MPJPE of a setting, when the section's comparisons have its table row."""
    for c in section.comparisons:
        for key, paper in zip((c.better, c.worse), c.paper or (), strict=False):
            if key == run:
                return f"{paper.mpjpe:.1f} / {paper.pa_mpjpe:.1f}"
    return "—"


def protocol_markdown(p: Protocol, pilot: dict[str, dict[str, Any]]) -> list[str]:
    """The protocol as the results file states it (identical before and after the runs), with the pilot that chose
    its step count and learning rate (``pilot``: its stored results)."""
    rows = ["| run | stage | experiment config | overrides beyond the study's | starts from |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in RUNS:
        start = f"`{r.init}` (same seed)" if r.init else ("its random init" if r.stage == "pretrain" else
                                                          "random init + the pose network's weights")  # fmt: skip
        extra = ", ".join(f"`{o}`" for o in r.overrides) or "—"
        rows.append(f"| `{r.key}` ({r.label}) | {r.stage} | `{r.experiment}` | {extra} | {start} |")
    n_units = len(units(p))
    seeds = ", ".join(map(str, p.seeds))
    views_seeds = ", ".join(map(str, p.views_seeds))
    return [
        "## Protocol",
        "",
        f"Fixed before any run (tools/study/protocol.py, version {p.version}, fingerprint `{p.fingerprint()}`); not "
        "tuned towards the paper's answers afterwards. What each version changed, and when, is under *Versions*.",
        "",
        f"- **Data** (stand-ins in the real formats, tools/standin/make_assets.py `--size study --scale "
        f"{p.corpus_scale:g}`): AMASS-format motions of many subjects, sampled at {p.target_fps:g} fps into the "
        "motion cache; the validation split is whole held-out subjects. Image sets rendered (tools/standin/make_tsv.py, "
        f"{p.img_size} px) from separate image-set motions that pre-training never sees: **evaluation** "
        f"{p.n_eval} protocol-2 images (subjects S9 and S11, camera 60457274, every 5th frame); fine-tuning "
        f"{p.n_ft_h36m} Human3.6M-like images (S1, S5, S6, 4 cameras) and {p.n_ft_coco} COCO-like images (2D "
        "keypoints only).",
        "- **Pose network** (stand-in for COCO keypoint weights): the demo's released SimpleBaseline ResNet-18 "
        f"(tools/standin/weights/demo_pose, sha256 `{p.pose_sha256[:16]}…`, trained once on rendered demo motions "
        f"at {p.crop_size} px crops; its manifest names the command), taken as the paper takes COCO weights; every "
        f"image step reads {p.crop_size} px crops; every fine-tuning starts from it; its PCK@0.1 on the evaluation "
        "images is stated below.",
        f"- **Model**: `{' '.join(p.model)}` for every run; input maps {p.map_size} x {p.map_size} (heatmaps: "
        f"Gaussian sigma {p.map_size / 28:g} px), Table 3's half-resolution rows {p.half_map_size} x "
        f"{p.half_map_size} (sigma {p.half_map_size / 28:g} px). **Pre-training**: {p.pre_steps} steps of "
        f"{p.pre_batch} samples, Adam at {p.pre_lr:g} (10% linear warm-up, linear decay), validation on "
        f"{p.val_samples} held-out samples at the end. **Fine-tuning**: {p.ft_steps} steps of {p.ft_batch} images "
        f"(Human3.6M-like + COCO-like, in proportion to size), Adam at {p.ft_lr:g}, pose network trained too.",
        f"- **Seeds**: {views_seeds} for Table 2's four views rows (the supplement's own new result), {seeds} for "
        "every other run (model initialisation, data order and augmentation); a fine-tuning with seed s starts "
        f"from the pre-training with seed s. {n_units} trainings in all.",
        f"- **Device**: {p.device}. **Metrics**: Human3.6M protocol-2 MPJPE and PA-MPJPE in mm, 14 joints "
        "regressed from the predicted mesh (mpt-eval), and the global rotation error: the angle of the rotation "
        "that Procrustes removes, in degrees (a mesh turned the wrong way shows there, not in PA-MPJPE).",
        "- **Zero-shot protocols** (pre-trained model, no fine-tuning): *pose*: the evaluation images through "
        "the stand-in pose network; a mask model gets the maximum over its 17 maps; *oracle*: maps drawn from "
        "each image's own labels as pre-training draws them (keypoint heatmaps from its 2D keypoints, `mpt-eval "
        "keypoints=labels`; for a mask model the silhouette of its SMPL labels); *val*: held-out motions seen "
        "by the four Human3.6M S1 cameras, synthesised maps (the pre-training validation), also per camera. "
        "**Fine-tuned**: the evaluation images through the fine-tuned pose network and model.",
        "- **Versions**: " + "; ".join(f"{v}: {HISTORY[v]}" for v in sorted(HISTORY) if v <= p.version) + ".",
        f"- **Criterion**: {CRITERION}",
        f"- **Power targets** (fixed with the protocol, checked below): every pre-training is *trained*, i.e. its "
        f"meshes on the held-out motions are at least {p.trained_ratio:g} x as thick as the truth's (smallest "
        "principal extent, mpt.engine.thickness; a run that is not is flagged, not dropped); every oracle "
        f"comparison has 2 SE <= {p.max_two_se_mm:g} mm.",
        "",
        *rows,
        "",
        *pilot_markdown(pilot),
    ]


def _section_markdown(section: Section, results: Results) -> list[str]:
    lines = [f"### {section.title}", ""]
    if section.note:
        lines += [section.note, ""]
    cols = [(pr, m) for pr in section.protocols for m in (*METRICS, *(() if pr.startswith("val") else (ROTATION,)))]
    head = ["setting", "paper MPJPE / PA-MPJPE", *(f"{METRIC_NAMES[m]} {pr}" for pr, m in cols)]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key in section.runs:
        cells = [f"`{key}` {RUN_BY_KEY[key].label}", _paper_text(section, key)]
        lines.append("| " + " | ".join(cells + [results.values(key, pr, m).text() for pr, m in cols]) + " |")
    for c in section.comparisons:
        paper = "" if c.paper is None else (f"; paper d = {c.paper[0].mpjpe - c.paper[1].mpjpe:+.1f} / "
                                            f"{c.paper[0].pa_mpjpe - c.paper[1].pa_mpjpe:+.1f} mm")  # fmt: skip
        lines += ["", f"`{c.better}` vs `{c.worse}`: {c.claim}{paper}.", "",
                  "| protocol | MPJPE d ± SE | verdict | PA-MPJPE d ± SE | verdict |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for pr in c.protocols:
            cells = [_protocol_label(pr)]
            for m in METRICS:
                v = verdict(results.values(c.better, pr, m), results.values(c.worse, pr, m), c.directional)
                cells += [v.text(), v.verdict]
            lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def tally(results: Results) -> dict[str, int]:
    """Verdicts of the directional comparisons (every protocol and metric they list)."""
    counts: dict[str, int] = {}
    for c in _comparisons():
        if not c.directional:
            continue
        for pr in c.protocols:
            for m in METRICS:
                v = verdict(results.values(c.better, pr, m), results.values(c.worse, pr, m)).verdict
                counts[v] = counts.get(v, 0) + 1
    return counts


def _comparisons() -> list[Comparison]:
    return [c for s in SECTIONS for c in s.comparisons]


def headline(results: Results) -> str:
    """One sentence: how many of the paper's claims the results reproduce at this scale."""
    n_done = len(results.by_unit)
    if n_done < results.expected:
        return (f"Not measured yet: {n_done} of {results.expected} trainings have results "
                "(run `python -m tools.study`).")  # fmt: skip
    counts = tally(results)
    total = sum(counts.values())
    words = {"agrees": "agree", "opposite": "point the opposite way", "inconclusive": "inconclusive"}
    parts = ", ".join(f"{counts[k]} {w}" for k, w in words.items() if counts.get(k))
    others = {k: v for k, v in counts.items() if k not in words}
    if others:
        parts += ", " + ", ".join(f"{v} {k}" for k, v in others.items())
    p = results.protocol
    flags = [trained(r, p) for r in results.by_unit.values() if r["stage"] == "pretrain"]
    return (
        f"Of {total} checks of the paper's claims (each comparison under each protocol and metric, "
        f"{len(p.views_seeds)} seeds for the views rows, {len(p.seeds)} for the others, {p.pre_steps} pre-training "
        f"steps, scale {p.scale:g}): {parts}. {sum(f is True for f in flags)} of {len(flags)} pre-trainings have a "
        "body's thickness."
    )


def _machine(p: Protocol) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}, torch {torch.__version__}"
    if p.device.startswith("cuda") and torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def _timing_markdown(results: Results, prepare: dict[str, dict[str, float]]) -> list[str]:
    lines = ["## Time", "", "Wall-clock and CPU seconds measured by the runner for each training and its "
             "evaluations (with several jobs at once, wall time overlaps).", "",
             "| run | seeds done | train wall (s) | train CPU (s) | evaluate wall (s) | per seed wall (s) |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    total = 0.0
    for r in RUNS:
        mine = [v for v in results.by_unit.values() if v["run"] == r.key]
        if not mine:
            lines.append(f"| `{r.key}` | 0 | — | — | — | — |")
            continue
        tw = sum(v["timing"]["train"]["wall_s"] for v in mine)
        tc = sum(v["timing"]["train"]["cpu_s"] for v in mine)
        ew = sum(v["timing"]["evaluate"]["wall_s"] for v in mine)
        total += tw + ew
        lines.append(f"| `{r.key}` | {len(mine)} | {tw:.0f} | {tc:.0f} | {ew:.0f} | {(tw + ew) / len(mine):.0f} |")
    prep = sum(v["wall_s"] for v in prepare.values())
    steps = ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in prepare.items())
    return lines + ["", f"Data preparation: {prep:.0f} s wall ({steps or 'not run yet'}). Trainings and "
                    f"evaluations: {total:.0f} s wall summed over units.", ""]  # fmt: skip


def trained(result: dict[str, Any], p: Protocol) -> bool | None:
    """Whether a pre-training's meshes have a body's thickness (Protocol.trained_ratio); None when not measured."""
    ratio = result["metrics"].get("val", {}).get("thickness_ratio")
    return None if ratio is None else ratio >= p.trained_ratio


def power_markdown(results: Results) -> list[str]:
    """The protocol's power targets, checked: every pre-training trained, every oracle comparison's 2 SE small."""
    p = results.protocol
    pre = [(name, r) for name, r in results.by_unit.items() if r["stage"] == "pretrain"]
    flags = [trained(r, p) for _, r in pre]
    untrained = [name for (name, _), f in zip(pre, flags, strict=True) if f is False]
    lines = ["## Power targets", "",
             f"- Trained (meshes at least {p.trained_ratio:g} x as thick as the truth's on the held-out motions): "
             f"{sum(f is True for f in flags)} of {len(pre)} pre-trainings with results"
             + (f"; **not trained**: {', '.join(f'`{n}`' for n in untrained)}" if untrained else "")
             + (f"; {sum(f is None for f in flags)} without a thickness" if None in flags else "") + ".",
             f"- 2 SE <= {p.max_two_se_mm:g} mm for every oracle comparison:", "",
             "| comparison | MPJPE 2 SE | PA-MPJPE 2 SE | met |", "| --- | --- | --- | --- |"]  # fmt: skip
    for c in _comparisons():
        if "oracle" not in c.protocols:
            continue
        twos = [2 * verdict(results.values(c.better, "oracle", m), results.values(c.worse, "oracle", m)).se
                for m in METRICS]  # fmt: skip
        met = "—" if any(x != x for x in twos) else ("yes" if max(twos) <= p.max_two_se_mm else "**no**")
        lines.append(f"| `{c.better}` vs `{c.worse}` | " + " | ".join("—" if x != x else f"{x:.1f}" for x in twos)
                     + f" | {met} |")  # fmt: skip
    return lines + [""]


def _runs_markdown(results: Results) -> list[str]:
    protocols = ("pose", "oracle", "val", "finetuned")
    cols = [(pr, m) for pr in protocols for m in (*METRICS, *(() if pr == "val" else (ROTATION,)))]
    lines = ["## Every run", "", "Thickness: the predicted meshes' smallest principal extent over the truth's on the "
             "held-out motions (pre-trainings; below the protocol's ratio: not trained).", "",
             "| unit | thickness | " + " | ".join(f"{METRIC_NAMES[m]} {pr}" for pr, m in cols) + " | command |",
             "|" + " --- |" * (len(cols) + 3)]  # fmt: skip
    for name, r in results.by_unit.items():
        ratio = r["metrics"].get("val", {}).get("thickness_ratio")
        flag = trained(r, results.protocol)
        thick = "—" if ratio is None else f"{ratio:.2f}" + (" **not trained**" if flag is False else "")
        cells = []
        for pr, m in cols:
            v = r["metrics"].get(pr, {}).get(m)
            cells.append("—" if v is None else f"{v:.1f}")
        lines.append(f"| `{name}` | {thick} | " + " | ".join(cells) + f" | `{r['command']}` |")
    return lines + [""]


def report_markdown(results: Results, invocation: str, commit: str, prepare: dict[str, dict[str, float]],
                    pose: dict[str, Any] | None = None, pilot: dict[str, dict[str, Any]] | None = None) -> str:
    """The results file; ``pose``: the stand-in pose network's PCK on the evaluation images (tools/study/data.py),
    ``pilot``: the pilot's stored results (tools/study/pilot.py)."""
    p = results.protocol
    commits = results.commits()
    provenance = f"`{commit}`"
    if commits and commits != [commit]:
        provenance += f"; results produced at {', '.join(f'`{c}`' for c in commits)}"
    status = (f"complete: all {results.expected} trainings" if len(results.by_unit) == results.expected else
              f"**incomplete**: {len(results.by_unit)} of {results.expected} trainings")  # fmt: skip
    if results.superseded:
        status += (f"; {len(results.superseded)} more results were written under an earlier protocol and wait for "
                   f"their evaluation under this one ({', '.join(f'`{u}`' for u in results.superseded)})")
    lines = [
        "# The paper's effects in miniature",
        "",
        "Written by `tools/study` from its stored results; nothing here is typed by hand. The data are "
        "generated stand-ins (not SMPL, AMASS or Human3.6M) and the model is tiny: the question is whether the "
        "paper's *differences* between settings show at this scale, not its numbers.",
        "",
        f"- Command: `{invocation}`",
        f"- Commit: {provenance}",
        f"- Machine: {_machine(p)}",
        f"- Status: {status}",
        "",
        "## Headline",
        "",
        headline(results),
        "",
        *protocol_markdown(p, pilot or {}),
        "## Results",
        "",
        "The stand-in pose network on the evaluation images: " + (
            f"PCK@0.1 {pose['pck@0.1']:.3f}, mean keypoint error {pose['mean_px']:.1f} px of the {pose['crop']} px "
            "crop (tools/standin/train_pose.py's measure); per keypoint: " + ", ".join(
                f"{k} {v['pck']:.2f}" for k, v in pose["per_keypoint"].items()) + "."
            if pose else "not measured yet."),
        "",
        "Mean ± standard deviation over seeds (mm). d = mean of the setting the claim favours minus the other's "
        "(negative: the claim's direction); paper d from the paper's tables where it has both numbers.",
        "",
    ]
    for section in SECTIONS:
        lines += _section_markdown(section, results)
    lines += power_markdown(results) + _runs_markdown(results) + _timing_markdown(results, prepare)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Plot


def plot(results: Results, out: Path) -> Path:
    """study.png: per section and metric, every setting's seeds as dots and mean +- std as a bar, per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = SECTIONS
    fig, axes = plt.subplots(2, len(sections), figsize=(3.2 * len(sections), 7.5), squeeze=False)
    colours = {"pose": "tab:blue", "oracle": "tab:orange", "val": "tab:green", "finetuned": "tab:red"}
    for col, section in enumerate(sections):
        protocols = [pr for pr in section.protocols if pr in colours]
        for row, metric in enumerate(METRICS):
            ax = axes[row][col]
            for j, pr in enumerate(protocols):
                offset = (j - (len(protocols) - 1) / 2) * 0.18
                for i, key in enumerate(section.runs):
                    s = results.values(key, pr, metric)
                    if not s.n:
                        continue
                    x = i + offset
                    ax.scatter([x] * s.n, s.values, s=10, color=colours[pr], alpha=0.6,
                               label=PROTOCOL_NAMES[pr] if i == 0 else None)  # fmt: skip
                    ax.errorbar(x, s.mean, yerr=0 if s.n < 2 else s.std, fmt="_", color=colours[pr], capsize=3,
                                markersize=12)  # fmt: skip
            ax.set_xticks(range(len(section.runs)), section.runs, rotation=30, fontsize=8)
            ax.set_ylabel(f"{METRIC_NAMES[metric]} (mm)", fontsize=8)
            ax.grid(True, axis="y", alpha=0.3)
            if row == 0:
                ax.set_title(section.title.split(":")[0], fontsize=9)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
            labels[label] = label
    fig.legend(list(handles.values()), list(labels), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(f"The paper's effects in miniature: {len(results.by_unit)} of {results.expected} trainings "
                 f"(dots: seeds; bars: mean ± std)", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return out


def update_readme(readme: Path, text: str) -> bool:
    """Replace the text between the study markers in ``readme``; False when it has no markers."""
    content = readme.read_text(encoding="utf-8")
    start, end = content.find(README_START), content.find(README_END)
    if start < 0 or end < start:
        return False
    new = content[: start + len(README_START)] + "\n" + text + "\n" + content[end:]
    if new != content:
        write_text_atomic(readme, new)
    return True


def write_report(layout: Layout, protocol: Protocol, results_dir: Path, invocation: str,
                 readme: Path | None = None) -> Sequence[Path]:  # fmt: skip
    """study.md and study.png into ``results_dir`` from ``layout``'s stored results (and the README headline)."""
    results = Results(layout.results, protocol)
    pose_file = stand_in_file(layout)
    pose = json.loads(pose_file.read_text(encoding="utf-8")) if pose_file.is_file() else None
    if pose is not None and pose.get("sha256") != protocol.pose_sha256:
        pose = None  # another pose network's (an earlier protocol's), until this one is measured
    md = report_markdown(results, invocation, git_commit(), data_timing(layout), pose, load_pilot(layout))
    md = write_text_atomic(results_dir / "study.md", md)
    png = plot(results, results_dir / "study.png")
    written = [md, png]
    if readme is not None and update_readme(readme, "**Study headline** ([docs/results/study.md](docs/results/study.md), "
                                                    f"written by tools/study): {headline(results)}"):  # fmt: skip
        written.append(readme)
    return written
