"""What the study (tools/study) trains, measures and compares: its protocol, fixed before any run.

The MPT paper's claims are differences between settings, so the study trains every setting it compares at the same
small scale on the stand-in data, several seeds each, and asks of each difference whether it points the paper's way
and is larger than its uncertainty. Everything that decides a number is here: the data sizes, the model, the steps,
the seeds, the evaluation sets and the criterion. ``tools/study`` writes this protocol into the results file
before it trains anything, and refuses to mix results of different protocols in one output folder.

Runs (one per seed): nine pre-trainings and three fine-tunings, each an mpt experiment config of the paper's row
(configs/experiment/) at the study's size. Shared work: the 8-view heatmap pre-training is Table 2's 8-view row,
Table 4's heatmap row, masked heatmap and masked vertex modelling "on", random heading "off", and the start of the
fine-tuned full-resolution row (Table 3) and of Table 1's pre-trained row. Table 2's four rows (views1..views8) run
with more seeds than the others (the supplement's own new result). The pose network is the demo's released stand-in.

Step counts and the pre-training learning rate come from the pilot (tools/study/pilot.py): the same runs on
held-out motions only, with seeds the study never reports, decided by a rule written before it ran.

Zero-shot protocols (a pre-trained model that never saw an image):
  ``pose``    the protocol-2 images through the stand-in pose network (the paper's Table 2 protocol); a mask model
              gets the maximum over the network's 17 maps (mpt.models.mpt, the stand-in for a segmentation network)
  ``oracle``  the same images, maps drawn from each row's own labels as pre-training draws them: keypoint heatmaps
              from its 2D keypoints (``mpt-eval keypoints=labels``); for a mask model the silhouette of its SMPL
              labels (tools/study/evaluation.py): each model gets its own ideal input
  ``val``     held-out motions seen by the four Human3.6M S1 cameras, maps synthesised as in pre-training (the
              pre-training validation), overall and per camera
Fine-tuned protocol: ``finetuned``, the protocol-2 images through the fine-tuned pose network and model.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from tools.results_table import PAPER, PaperResult

PROTOCOL_VERSION = 3
# What each version changed and why (study.md prints it). A version may change only what comes after the
# pre-trainings that ran under an earlier one; tools/study/runner.py then carries those pre-trainings over.
HISTORY = {
    2: "pre-training sized by the pilot (1000 steps of 16 at lr 1e-3), every pre-training at 56 px maps, 5 seeds "
       "for the views rows, the demo's released stand-in pose network on 128 px crops",
    3: "the image side only, decided after 9 of version 2's 35 pre-trainings and before any fine-tuning: version "
       "2's stand-in could not tell left from right (its left and right maps were the same map) and every "
       "pose-protocol result was turned 53-73 degrees; version 3 takes the stand-in released since, which tells "
       "them apart in 98% of far left/right pairs, with the image sets it was trained on (a fixed-colour band "
       "down the jersey front), and fine-tunes at the demo's new learning rate, 1e-4 instead of 2e-4 (chosen on "
       "the demo's selection images). Version 2's pre-trainings are kept; every evaluation runs again",
}  # fmt: skip

# What a pre-training (and the validation on held-out motions it runs itself) depends on: a pre-training done under
# one protocol is the same run under another that shares these fields, so tools/study/runner.py carries it over
# when only the image side (renders, pose network, fine-tuning) changes. The crop is here because an export names
# the crop its image steps read.
PRETRAIN_FIELDS = ("corpus_scale", "target_fps", "crop_size", "map_size", "half_map_size", "pre_steps", "pre_batch",
                   "pre_lr", "val_samples", "model")  # fmt: skip

# The study's model: configs/model/tiny.yaml (the same architecture, narrow and shallow) with attention dropout 0,
# so that attention on a CPU runs PyTorch's fused kernel, which refuses dropout (scripts/bench/bench_transformer.py):
# 2.7x fewer CPU-seconds per pre-training step. Every run of every row uses it.
MODEL = ("model=tiny", "model.transformer.attention_dropout=0.0")

ZERO_SHOT = ("pose", "oracle", "val")
FINETUNED = ("finetuned",)
PROTOCOL_NAMES = {
    "pose": "zero-shot, stand-in pose network",
    "oracle": "zero-shot, oracle maps from the labels",
    "val": "zero-shot, held-out motions (synthesised maps)",
    "finetuned": "fine-tuned, pose network + model",
}
# Pre-training validation cameras (cameras.val_indices default [0, 1, 2, 3]): Human3.6M S1 ids, 60457274 is
# protocol 2's.
VAL_CAMERAS = ("54138969", "55011271", "58860488", "60457274")


@dataclass(frozen=True)
class Run:
    """One training of the study, run once per seed: an experiment config of the paper's row and its overrides."""

    key: str
    stage: str  # pretrain | finetune
    experiment: str  # configs/experiment/<experiment>.yaml
    overrides: tuple[str, ...] = ()
    init: str | None = None  # fine-tuning: the pre-training run (same seed) it starts from; None: from scratch
    label: str = ""
    maps: str = "full"  # input map side: "full" (Protocol.map_size) or "half" (Protocol.half_map_size, Table 3)

    @property
    def protocols(self) -> tuple[str, ...]:
        return ZERO_SHOT if self.stage == "pretrain" else FINETUNED


RUNS: tuple[Run, ...] = (
    Run("views1", "pretrain", "pretrain_views1", label="1 view"),
    Run("views2", "pretrain", "pretrain_views2", label="2 views"),
    Run("views4", "pretrain", "pretrain_views4", label="4 views"),
    Run("views8", "pretrain", "pretrain_views8", label="8 views, heatmaps 56 (MPT)"),
    Run("mask", "pretrain", "pretrain_mask", label="binary masks"),
    Run("hm28", "pretrain", "pretrain_hm112", maps="half", label="heatmaps 28 (the paper's 112)"),
    Run("no_mhm", "pretrain", "pretrain_views8", ("input.mask_joint_ratio=0.0",), label="no masked heatmap modelling"),
    Run(
        "no_mvm",
        "pretrain",
        "pretrain_views8",
        ("model.transformer.mvm_ratio=0.0",),
        label="no masked vertex modelling",
    ),
    Run("heading", "pretrain", "pretrain_random_heading", label="random heading"),
    Run("ft_hm56", "finetune", "finetune_mpt", init="views8", label="pre-trained, heatmaps 56 (the paper's 224)"),
    Run("ft_hm28", "finetune", "finetune_hm112", init="hm28", maps="half", label="pre-trained, heatmaps 28 (the paper's 112)"),
    Run("ft_scratch", "finetune", "finetune_scratch", label="from scratch, heatmaps 56"),
)
# Table 2 (virtual views) is the paper's own new result (its supplement): its four rows get more seeds.
VIEWS_RUNS = ("views1", "views2", "views4", "views8")
RUN_BY_KEY = {r.key: r for r in RUNS}


@dataclass(frozen=True)
class Comparison:
    """Two settings the paper (or this project) compares: ``better`` should give the lower error.

    ``paper``: the paper's numbers (better, worse) when it has them; ``claim``: its claim in words, or why there is
    none (``directional`` False: no direction is expected, only the difference is reported).
    """

    better: str
    worse: str
    protocols: tuple[str, ...]
    claim: str
    paper: tuple[PaperResult, PaperResult] | None = None
    directional: bool = True


@dataclass(frozen=True)
class Section:
    """One block of the results: the paper's table or claim, its settings (run keys) and its comparisons."""

    title: str
    runs: tuple[str, ...]
    protocols: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    note: str = ""


_P = PAPER
_HEATMAP_224 = _P["finetune_mpt"]

SECTIONS: tuple[Section, ...] = (
    Section(
        "Table 2: virtual views, pre-training only",
        ("views1", "views2", "views4", "views8"),
        ZERO_SHOT,
        tuple(
            Comparison(
                b, w, ("pose", "oracle"), f"{b[5:]} views beat {w[5:]}", (_P[f"pretrain_{b}"], _P[f"pretrain_{w}"])
            )
            for b, w in (("views8", "views1"), ("views2", "views1"), ("views4", "views2"), ("views8", "views4"))
        ),
        "The paper evaluates these zero-shot behind HigherHRNet-w48 on Human3.6M protocol 2.",
    ),
    Section(
        "Table 4: heatmaps vs binary masks",
        ("views8", "mask"),
        ZERO_SHOT,
        (
            Comparison(
                "views8",
                "mask",
                ("pose", "oracle"),
                "keypoint heatmaps beat binary person masks "
                "(the paper's numbers are after fine-tuning; ours are zero-shot)",
                (_HEATMAP_224, _P["finetune_mask"]),
            ),
        ),
        "Oracle input of the mask model: the silhouette of the row's SMPL labels, drawn as pre-training draws masks. "
        "Behind the pose network it gets the maximum over the 17 keypoint maps (a stand-in for a segmentation "
        "network), which is not what it was trained on.",
    ),
    Section(
        "Table 3: pose maps at full vs half resolution (56 vs 28 here, 224 vs 112 in the paper), fine-tuned",
        ("ft_hm56", "ft_hm28"),
        FINETUNED,
        (
            Comparison(
                "ft_hm56",
                "ft_hm28",
                FINETUNED,
                "maps at full resolution beat maps at half",
                (_HEATMAP_224, _P["finetune_hm112"]),
            ),
        ),
        "The paper's pair is 224 vs 112 px maps of a 224 px crop; the miniature keeps its 2x ratio at the two "
        "cheapest resolutions, 56 vs 28 px maps (Gaussian sigma 2 and 1 px: the paper's 8 px at 224, scaled) of "
        "the 128 px crop its stand-in pose network reads.",
    ),
    Section(
        "Table 1 core: mesh pre-training before fine-tuning",
        ("ft_hm56", "ft_scratch"),
        FINETUNED,
        (
            Comparison(
                "ft_hm56",
                "ft_scratch",
                FINETUNED,
                "pre-training improves the fine-tuned model (the paper "
                "compares MPT with METRO, a different network: 45.3 vs 54.0 mm; no same-network number)",
            ),
        ),
        "Same fine-tuning steps, same pose-network start; only the transformer's initialisation differs.",
    ),
    Section(
        "Masked heatmap modelling",
        ("views8", "no_mhm"),
        ZERO_SHOT,
        (
            Comparison(
                "views8",
                "no_mhm",
                ("pose", "oracle"),
                "masked heatmap modelling improves pre-training (the "
                "paper's abstract and method; no number in its tables)",
            ),
        ),
    ),
    Section(
        "Masked vertex modelling",
        ("views8", "no_mvm"),
        ZERO_SHOT,
        (
            Comparison(
                "views8",
                "no_mvm",
                ("pose", "oracle"),
                "masked vertex modelling helps (METRO's ablation, which MPT keeps; no number in MPT's tables)",
            ),
        ),
    ),
    Section(
        "Random heading (this project's augmentation)",
        ("views8", "heading"),
        ZERO_SHOT,
        (
            Comparison(
                "views8",
                "heading",
                ("pose", "oracle", "val") + tuple(f"val_{c}" for c in VAL_CAMERAS),
                "no claim: the paper films bodies in their own orientation",
                directional=False,
            ),
        ),
        "Per camera: the held-out motions seen by each Human3.6M S1 camera (val_<camera id>).",
    ),
)

CRITERION = (
    "For each comparison and metric: d = mean(expected better) - mean(expected worse) over seeds, with "
    "standard error SE = sqrt(s_a^2 / n_a + s_b^2 / n_b) (sample standard deviations s, n seeds each). "
    "**agrees**: d < 0 and |d| > 2 SE; **opposite**: d > 0 and |d| > 2 SE; **inconclusive**: |d| <= 2 SE. "
    "Without a paper claim the verdict only says which setting is lower, or that the difference is within "
    "2 SE. With 3 seeds, 2 SE is a rough screen, not a significance test (about p = 0.1 for a t "
    "distribution with 4 degrees of freedom)."
)


@dataclass(frozen=True)
class Protocol:
    """Sizes, schedules and targets of one study; :func:`protocol_for` derives them from ``--scale``."""

    scale: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)  # every run
    views_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # the VIEWS_RUNS (Table 2)
    device: str = "cpu"
    # Data: tools/standin/make_assets.py --size study --scale <corpus_scale>, cached at target_fps, rendered image sets
    corpus_scale: float = 1.0
    target_fps: float = 30.0
    img_size: int = 256  # rendered image side (tools/standin/make_tsv.py)
    n_eval: int = 300  # protocol-2 images: subjects S9, S11, camera 60457274, every 5th frame
    # Fine-tuning images (Human3.6M-like: S1, S5, S6, all 4 cameras; COCO-like: 2D keypoints only, 8 virtual
    # views): enough that ft_steps of ft_batch see each image under twice (on the demo's 300 images, 240 steps of
    # 8 began to overfit: tools/standin/train_pose.py's selection set, issue 23).
    n_ft_h36m: int = 1200
    n_ft_coco: int = 300
    # The pose network: the demo's released stand-in (tools/standin/weights/demo_pose, installed by
    # tools/standin/pose_release.py), as the paper takes COCO keypoint weights off the shelf; trained on 128 px crops,
    # where alone it finds every joint, so every image step reads 128 px crops.
    pose_sha256: str = ""
    image_format: int = 0  # the renderer of the image sets (tools/standin/make_tsv.py FORMAT_VERSION)
    crop_size: int = 128
    # Input maps: every pre-training row at map_size (the demo's 56); Table 3's pair at map_size vs half_map_size.
    # Gaussian sigma = side / 28 px (configs/input/heatmap.yaml: 8 px at 224).
    map_size: int = 56
    half_map_size: int = 28
    # Pre-training (per run and seed): chosen by the pilot (tools/study/pilot.py, pilot seeds only, held-out motions)
    pre_steps: int = 1000
    pre_batch: int = 16
    pre_lr: float = 1e-3
    val_samples: int = 256  # held-out motion samples, spread over the val split, 1/4 per camera
    # Fine-tuning (per run and seed): the demo's lr (configs/experiment/demo_finetune.yaml: chosen behind the
    # stand-in on the demo's selection images, 1e-4 against 2e-4, 2e-4 with the pose network frozen, and 1e-4 for
    # 300 steps) for twice the demo's steps on five times its images (about 1.6 passes: the demo's 300 steps on
    # its 1100 images, 2.2 passes, made PA-MPJPE worse).
    ft_steps: int = 300
    ft_batch: int = 8
    ft_lr: float = 1e-4
    # Power targets, fixed before the runs: a pre-training counts as trained when its meshes on the held-out motions
    # are at least trained_ratio x as thick as the truth's (mpt.engine.thickness); every oracle comparison should
    # have 2 SE <= max_two_se_mm.
    trained_ratio: float = 0.7
    max_two_se_mm: float = 6.0
    model: tuple[str, ...] = MODEL
    version: int = PROTOCOL_VERSION

    def seeds_of(self, run: Run) -> tuple[int, ...]:
        return self.views_seeds if run.key in VIEWS_RUNS else self.seeds

    def map_side(self, run: Run) -> int:
        return self.half_map_size if run.maps == "half" else self.map_size

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def fingerprint(self) -> str:
        """sha256 of the protocol (without the device, which does not change what is measured)."""
        return _digest({k: v for k, v in self.as_dict().items() if k != "device"})

    def pretrain_fingerprint(self) -> str:
        """sha256 of what a pre-training depends on (PRETRAIN_FIELDS)."""
        return _digest({k: v for k, v in self.as_dict().items() if k in PRETRAIN_FIELDS})

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Protocol:
        """The protocol a ``protocol.json`` stored (lists back to tuples; fields added since then keep defaults)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known})


def _digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def protocol_for(scale: float = 1.0, seeds: int = 3, device: str = "cpu", steps: int | None = None,
                 views_seeds: int = 5) -> Protocol:  # fmt: skip
    """The study at ``scale``: data sizes and every step count times ``scale`` (batch sizes and learning rates
    fixed); ``steps`` (tests and smoke runs) replaces every step count."""
    from tools.standin.make_tsv import FORMAT_VERSION
    from tools.standin.pose_release import release_manifest

    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"--scale must be a positive number, got {scale}")
    if seeds < 1 or views_seeds < 1:
        raise ValueError(f"--seeds and --views-seeds must be at least 1, got {seeds} and {views_seeds}")
    base = Protocol()

    def grow(n: int) -> int:
        return max(1, round(n * scale))

    p = replace(
        base,
        scale=scale,
        seeds=tuple(range(seeds)),
        views_seeds=tuple(range(views_seeds)),
        device=device,
        corpus_scale=scale,
        n_eval=grow(base.n_eval),
        n_ft_h36m=grow(base.n_ft_h36m),
        n_ft_coco=grow(base.n_ft_coco),
        pose_sha256=str(release_manifest()["sha256"]),
        image_format=FORMAT_VERSION,
        pre_steps=grow(base.pre_steps),
        val_samples=grow(base.val_samples),
        ft_steps=grow(base.ft_steps),
    )
    if steps is not None:
        if steps < 1:
            raise ValueError(f"--steps must be at least 1, got {steps}")
        p = replace(p, pre_steps=steps, ft_steps=steps)
    return p


@dataclass(frozen=True)
class Unit:
    """One (run, seed): the unit of work the study writes a result for, and never re-runs once written."""

    run: Run
    seed: int

    @property
    def name(self) -> str:
        return f"{self.run.key}_s{self.seed}"

    @property
    def needs(self) -> str | None:
        """The unit whose export this one starts from."""
        return None if self.run.init is None else f"{self.run.init}_s{self.seed}"


def units(protocol: Protocol) -> list[Unit]:
    """Every unit of the study, pre-trainings first (fine-tunings start from them), seed by seed."""
    seeds = sorted({*protocol.seeds, *protocol.views_seeds})
    return [Unit(r, s) for stage in ("pretrain", "finetune") for s in seeds for r in RUNS
            if r.stage == stage and s in protocol.seeds_of(r)]  # fmt: skip


@dataclass
class Timing:
    """Wall-clock and CPU seconds of one piece of work."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
