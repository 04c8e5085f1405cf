"""Structured (typed) configs behind the YAML tree in ``configs/``.

Every node that a YAML file or a command-line override can touch is a dataclass here, registered in Hydra's
ConfigStore, so a misspelt or unknown key is an error naming the key instead of a silently ignored value. The
YAML files under ``configs/`` only set values; the types and defaults documented here are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class PathsConfig:
    """Where the data lives; see README.md, 'Real data', for the expected layout."""

    data_root: str = "data"
    smpl: str = "${paths.data_root}/body_models/smpl"  # folder with SMPL_{NEUTRAL,MALE,FEMALE}.pkl|npz
    h36m_regressor: str = "${paths.data_root}/body_models/J_regressor_h36m_correct.npy"
    coco_regressor: Optional[str] = None  # optional (17, 6890); default: SMPL joints + face vertices
    mesh_downsampling: Optional[str] = None  # GraphCMR/METRO mesh_downsampling.npz; computed when absent
    amass: str = "${paths.data_root}/amass"  # AMASS npz tree (only tools/prepare_amass.py reads it)
    motion_cache: str = "${paths.data_root}/amass_cache"  # written by tools/prepare_amass.py
    tsv: str = "${paths.data_root}/tsv"  # METRO-style TSV image sets
    cache: str = "${paths.data_root}/cache"  # derived files (mesh levels)
    # Every run's folder lives under output_root unless output_dir is given: the fine-tuning experiments find
    # their pre-training at ${paths.output_root}/pretrain_*, so one paths.output_root=/shared/... moves both.
    output_root: str = "outputs"
    output_dir: str = "${paths.output_root}/${name}"  # one explicit run dir shared by all ranks


@dataclass
class BodyConfig:
    """SMPL body model options."""

    gender: str = "neutral"  # neutral | per_sample (use the cache's gender with male/female models)
    num_betas: int = 10


@dataclass
class CamerasConfig:
    """Virtual cameras for pre-training (paper: the 4 Human3.6M S1 cameras + 4 interpolated)."""

    num_views: int = 8  # 1, 2, 4 or 8
    indices: Optional[list[int]] = None  # which S1 cameras for 1/2/4 views; default the first n
    distortion: bool = False  # apply the cameras' lens distortion when projecting
    # Validation always films the held-out motions with these Human3.6M S1 cameras (0..3 = 54138969, 55011271,
    # 58860488, 60457274; sample i uses val_indices[i % n]), whatever num_views trains, so that runs with 1, 2, 4
    # and 8 views report numbers over the same views. [3] alone is protocol 2's camera.
    val_indices: list[int] = field(default_factory=lambda: [0, 1, 2, 3])


@dataclass
class InputConfig:
    """What the transformer sees: keypoint heatmaps (paper) or a binary person mask (Table 4 ablation)."""

    kind: str = "heatmap"  # heatmap | mask
    size: int = 224  # map resolution for a 224 crop: 224, 112 or 56
    sigma: float = 8.0  # Gaussian sigma in pixels at `size` (2 px at 56, scaled with size)
    crop_size: int = 224  # person crop side in pixels
    # crop side / longer side of the person's silhouette box: 1.0 as METRO's Human3.6M sets (GraphCMR h36m.py
    # scale = box side / 200, no margin); see mpt.synthesis.SynthesisOptions
    crop_scale: float = 1.0
    scale_jitter: list[float] = field(default_factory=lambda: [0.9, 1.1])
    center_jitter: float = 0.05  # centre shift, fraction of the crop side
    # Masked heatmap modeling (pre-training): up_to = int(u * ratio * 17) maps zeroed per sample, u ~ U[0, 1)
    # (METRO's masking scheme; 2.05 maps on average at 0.3) | exact = round(ratio * 17) maps (mpt.masking)
    mask_joint_ratio: float = 0.3
    mask_joint_count: str = "up_to"
    # Our augmentation, off in the paper's rows: turn each training body about the vertical by a random angle
    # before filming it (the paper's virtual cameras film AMASS bodies in their own orientation)
    random_heading: bool = False


@dataclass
class EncoderConfig:
    """Heatmap encoder: heatmaps -> global feature (+ optional grid tokens); instantiated from ``_target_`` with
    ``in_channels`` / ``in_size`` from the input config, so another encoder class can be swapped in by name."""

    _target_: str = "mpt.models.heatmap_encoder.HeatmapEncoder"
    feature_dim: int = 2048
    stem_channels: int = 64
    stage_channels: list[int] = field(default_factory=lambda: [64, 128, 256])
    blocks_per_stage: list[int] = field(default_factory=lambda: [2, 2, 2])
    pool: str = "flatten"  # flatten (keeps where the joints are) | avg
    grid_size: int = 0  # grid tokens per side for the first block (0: global feature only, as METRO)
    norm: str = "batch"  # batch | group


@dataclass
class TransformerConfig:
    """Mesh transformer (mpt.models.transformer): one entry per block in the lists."""

    hidden: list[int] = field(default_factory=lambda: [1024, 256, 64])
    out: list[int] = field(default_factory=lambda: [512, 128, 3])  # block outputs (METRO: 512, 128, 3)
    layers: int = 4
    heads: int = 4
    dropout: float = 0.1
    attention_dropout: float = 0.1  # METRO's; CPU fused attention needs 0 (see scripts/bench/bench_transformer.py)
    norm_first: bool = False  # post-LN as BERT/METRO
    # Feed-forward width of every layer: null = 4 x the block's hidden size (METRO's later setting and ours);
    # 3072 in every block is METRO's legacy_setting, used for its paper (run_metro_bodymesh.py)
    intermediate_size: Optional[int] = None
    # Masked vertex modeling in training (mpt.masking): up_to = int(u * ratio * N) queries per sample, u ~ U[0, 1)
    # (METRO's human_mesh_tsv.py) | exact = round(ratio * N)
    mvm_ratio: float = 0.3
    mvm_count: str = "up_to"
    mvm_groups: str = "separate"  # separate: joints and vertices drawn independently (METRO) | together: all 445
    mvm_token: str = "constant"  # constant: masked inputs set to 0.01 (METRO) | learned: a trained token (init 0.01)


@dataclass
class ModelConfig:
    name: str = "mpt"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    upsampler_init: str = "levels"  # levels (from the mesh sampling matrices) | random (METRO)
    camera_tokens: str = "all"  # camera head input: all 445 regressed tokens | vertices: the 431 (METRO's body net)


@dataclass
class BackboneConfig:
    """2D pose network in front of the heatmap encoder (fine-tuning / evaluation on images)."""

    name: str = "none"  # none | higherhrnet_w48 | higherhrnet_w32 | simplebaseline_r101 | simplebaseline_r18
    # official COCO keypoint checkpoint (mpt-finetune refuses a pose network without one); "random": random
    # weights, asked for by name (mpt.models.backbones.RANDOM_WEIGHTS)
    weights: Optional[str] = None
    freeze: bool = False  # the paper fine-tunes the backbone
    deconv_filters: Optional[int] = None  # SimpleBaseline head width (NUM_DECONV_FILTERS); null: the official 256


@dataclass
class LossConfig:
    """METRO's loss weights."""

    joints3d: float = 1000.0
    vertices: float = 100.0
    joints2d: float = 100.0
    vertex_levels: list[float] = field(default_factory=lambda: [0.33, 0.33, 0.33])  # 431, 1723, 6890


@dataclass
class TrainConfig:
    epochs: float = 10.0
    max_steps: Optional[int] = None  # stop early (smoke runs, benchmarks)
    micro_batch: int = 32  # per GPU
    grad_accum: int = 1
    lr: float = 2e-4
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    num_workers: int = 0  # image loader processes per GPU (fine-tuning and evaluation; configs/finetune.yaml: 4)
    tf32: bool = True  # TF32 matmuls for the model on CUDA; synthesis, targets and metrics stay IEEE fp32
    log_every: int = 10
    val_every: int = 500
    val_at_start: bool = False  # also validate the untrained model (a baseline for the curve)
    ckpt_every: int = 1000
    keep_checkpoints: int = 2  # newest checkpoints kept under <run>/checkpoints; older ones are deleted
    max_val_samples: Optional[int] = None
    resume: bool = False
    # an export to start from (pre-trained -> fine-tune): a finished run's folder (model.safetensors, config.yaml,
    # model.sha256), or what mpt-export checkpoint=<run>/checkpoints/step<N> out=<folder> onnx=false wrote
    init_from: Optional[str] = None
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass
class RunConfig:
    """Fields common to all commands."""

    name: str = "default"
    seed: int = 88
    device: str = "auto"  # auto | cpu | cuda
    paths: PathsConfig = field(default_factory=PathsConfig)
    body: BodyConfig = field(default_factory=BodyConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    input: InputConfig = field(default_factory=InputConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    deepspeed: dict[str, Any] = field(default_factory=dict)  # mirrors ds_config keys (group: zero0/1/2, bf16, fp16)
    data: Any = MISSING


@dataclass
class AmassDataConfig:
    """Pre-training data: the motion cache written by tools/prepare_amass.py."""

    cache: str = "${paths.motion_cache}"
    train_split: str = "train"
    val_split: str = "val"


@dataclass
class PretrainConfig(RunConfig):
    cameras: CamerasConfig = field(default_factory=CamerasConfig)
    data: AmassDataConfig = field(default_factory=AmassDataConfig)


@dataclass
class ImageSetConfig:
    """One METRO-style TSV image set."""

    name: str = MISSING
    tsv: str = MISSING  # folder holding <split>.img.tsv / <split>.label.tsv (+ .lineidx)
    split: str = "train"
    weight: Optional[float] = None  # sampling weight in the mix; null on every set: proportional to size (METRO)


@dataclass
class MixedDataConfig:
    sets: list[ImageSetConfig] = field(default_factory=list)
    val: Optional[ImageSetConfig] = None  # validated every train.val_every steps (Human3.6M protocol 2)


@dataclass
class FinetuneConfig(RunConfig):
    data: MixedDataConfig = field(default_factory=MixedDataConfig)


@dataclass
class EvalDataConfig:
    """The evaluation set (a METRO TSV set; ``split`` may name a METRO ``<split>.yaml``)."""

    name: str = "h36m_p2"
    tsv: str = "${paths.tsv}/human3.6m"
    split: str = "valid_protocol2"
    # What the set is, for the protocol line of every result (null: its name, folder and split)
    description: Optional[str] = None


@dataclass
class EvalOptions:
    """How ``mpt-eval`` measures."""

    # Ground-truth mesh of PVE: neutral = SMPL(pose, betas) with the neutral model for every row (METRO's
    # run_validate) | gendered = each row's male / female model (needs SMPL_MALE / SMPL_FEMALE under paths.smpl)
    gt_body: str = "neutral"


@dataclass
class EvalConfig(RunConfig):
    # export folder (model.safetensors + config.yaml + model.sha256); a training checkpoint becomes one with
    # mpt-export checkpoint=<run>/checkpoints/step<N> out=<folder> onnx=false
    checkpoint: Optional[str] = None
    batch_size: int = 32
    vis: int = 0  # write N images with the predicted mesh overlaid
    data: EvalDataConfig = field(default_factory=EvalDataConfig)
    eval: EvalOptions = field(default_factory=EvalOptions)
    # Lift 2D keypoints instead of running a pose network (mpt/inference/rows.py): "labels" (the set's own 2D labels) or a
    # COCO keypoint results file matched to the set's rows by image name; each row cropped with the set's own box.
    keypoints: Optional[str] = None
    min_keypoint_score: float = 0.3  # keypoints scoring below get a blank map (as masked heatmap modeling blanks)
    min_keypoints: int = 12  # rows with fewer keypoints at or above min_keypoint_score are skipped (see InferConfig)


@dataclass
class InferConfig(RunConfig):
    """``mpt-infer``: an exported model on a folder of images. The architecture (model, input, body and a trained
    backbone) comes from the export's config.yaml; the nodes given here only supply paths, device and, for a
    pre-training export, ``backbone.weights``."""

    checkpoint: Optional[str] = None  # export folder: model.safetensors + config.yaml + model.sha256
    images: Optional[str] = None  # an image file, or a folder of them (not recursive)
    boxes: Optional[str] = None  # person boxes JSON (see mpt/inference/images.py); none: the whole image is one box
    out: str = "${paths.output_dir}"  # <name>_overlay.png, <name>_<k>.obj/.ply, <name>.json per image
    batch_size: int = 16  # person crops per forward pass
    side_view: bool = True  # draw the mesh seen from the side next to the overlay
    formats: list[str] = field(default_factory=lambda: ["obj", "ply"])  # mesh files per person (obj, ply, or [])
    box_scale: float = 1.2  # crop side / longer box side (METRO's scaleFactor)
    min_box_score: float = 0.0  # boxes with a "score" below this are ignored (detector results files)
    # Mesh from 2D keypoints (mpt/inference/lift.py): a COCO keypoint results file; images= then becomes optional (overlays).
    keypoints: Optional[str] = None
    min_keypoint_score: float = 0.3  # MMPose's demo threshold (--kpt-thr); lower-scored keypoints get a blank map
    # People with fewer keypoints at or above min_keypoint_score are skipped and counted. 12: masked heatmap
    # modeling blanks at most int(u * 0.3 * 17) = 5 maps, so a pre-trained model has seen 12 or more drawn ones.
    min_keypoints: int = 12
    # Without a "bbox": the keypoints' extent x this ~ the silhouette's (head top, feet, hands reach beyond the
    # keypoints), then x the export's input.crop_scale. 1.11 = median silhouette / keypoint extent (longer sides;
    # quartiles 1.103 and 1.127; centres 0.2% of a side apart) over 2716 views: the demo body posed by every demo
    # motion, seen by the 4 Human3.6M S1 cameras (tools/standin/keypoint_box_factor.py; re-measure for the SMPL body).
    keypoint_box_factor: float = 1.11
    data: Any = None


@dataclass
class ExportConfig(RunConfig):
    """``mpt-export``: an export folder -> ONNX graph (images -> vertices, joints, camera) + a verified copy; or a
    training checkpoint -> an export (then the ONNX graph unless ``onnx=false``)."""

    # export folder (model.safetensors + config.yaml + model.sha256), or a training checkpoint:
    # <run>/checkpoints/step<N>, <run>/checkpoints (its latest), or a run folder that holds no export yet
    checkpoint: Optional[str] = None
    onnx: bool = True  # false: only turn a training checkpoint into an export (no ONNX graph)
    out: str = "${paths.output_dir}"  # model.onnx, model.safetensors, config.yaml, model.sha256
    opset: int = 17  # ONNX opset (>= 17: LayerNormalization)
    verify_batch: int = 2  # random images compared between ONNX Runtime and PyTorch
    tolerance: float = 1.0e-3  # max abs difference (metres) accepted; larger is an error
    data: Any = None
