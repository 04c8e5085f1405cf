"""``mpt-export``: an exported model folder -> ``model.onnx`` plus a sha256-checked safetensors copy.

The ONNX graph is the whole image model in eval mode: pose backbone -> heatmaps -> heatmap encoder -> mesh
transformer -> upsampler and camera head. Input ``images`` (B, 3, 224, 224) float32: RGB person crops made as
mpt-infer makes them (mpt.inference.predictor: the training crop, / 255, ImageNet mean/std); outputs ``vertices``
(B, 6890, 3) and ``joints`` (B, 14, 3) in metres in the model's frame (camera axes, about pelvis-centred), and
``camera`` (B, 3) = weak-perspective (s, tx, ty) with x_crop = s * (X[:2] + t) in the crop's [-1, 1] frame. The
batch axis is dynamic. The same description is stored in the graph's metadata.

Written with torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs the onnxscript
package, which mpt does not depend on. The graph is checked with onnx.checker and run with ONNX Runtime on random
images before it replaces any ``model.onnx``; the largest difference to PyTorch is printed, and one above
``tolerance`` is an error. The weights copy goes through mpt.engine.checkpoint.export_model (model.safetensors,
config.yaml, model.sha256), with the backbone included and named in the config, so the copy is a complete image
model for mpt-infer / mpt-eval.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from mpt.atomic import atomic_path
from mpt.errors import MptError
from mpt.inference.inputs import CROP_SIZE

__all__ = ["MIN_OPSET", "OUTPUT_NAMES", "OnnxGraph", "export", "export_onnx", "onnx_vs_torch"]

MIN_OPSET = 17  # LayerNormalization is an ONNX operator from opset 17 on
OUTPUT_NAMES = ("vertices", "joints", "camera")
_METADATA = {
    "input.images": "(B, 3, 224, 224) float32 RGB person crop, /255, ImageNet mean (0.485, 0.456, 0.406) and std "
                    "(0.229, 0.224, 0.225); crop side 1.2 x the longer side of the person box",
    "output.vertices": "(B, 6890, 3) SMPL-topology mesh, metres, camera axes (x right, y down, z forward)",
    "output.joints": "(B, 14, 3) Human3.6M evaluation joints (METRO J14 order), metres, same frame",
    "output.camera": "(B, 3) weak perspective (s, tx, ty): crop [-1, 1] coordinates = s * (X[:2] + (tx, ty))",
}  # fmt: skip


class OnnxGraph(nn.Module):
    """The image model as a graph with tensor outputs: images (B, 3, S, S) -> (vertices, joints, camera)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(images)
        return out["vertices"], out["joints"], out["camera"]


def export_onnx(model: nn.Module, path: Path, opset: int = MIN_OPSET) -> None:
    """Trace ``model`` (an MPT image model) into an ONNX file at ``path`` with a dynamic batch axis.

    The model's NaN check on its input is data-dependent control flow, so it is switched off while tracing.
    """
    graph = OnnxGraph(model).eval()  # eval on the wrapper: the exporter restores the wrapper's mode afterwards
    check = getattr(model, "check_inputs", False)
    model.check_inputs = False
    example = torch.zeros(2, 3, CROP_SIZE, CROP_SIZE)
    axes = {name: {0: "batch"} for name in ("images", *OUTPUT_NAMES)}
    try:
        with warnings.catch_warnings():
            # The shape checks in the modules' forward() trace as constants (TracerWarning); they hold for any
            # batch size. The TorchScript exporter also announces its deprecation in favour of dynamo.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=["images"], output_names=list(OUTPUT_NAMES), dynamic_axes=axes)  # fmt: skip
    finally:
        model.check_inputs = check
    import onnx

    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, _METADATA)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


@torch.no_grad()
def onnx_vs_torch(model: nn.Module, path: Path, images: Tensor) -> dict[str, float]:
    """Max abs difference per output between ONNX Runtime (CPU) on ``path`` and PyTorch on ``images``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {"images": images.numpy()})
    want = OnnxGraph(model).eval()(images)
    return {name: float(np.abs(g - w.numpy()).max()) for name, g, w in zip(OUTPUT_NAMES, got, want, strict=True)}


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.checkpoint`` to ``cfg.out``: model.onnx (verified) and a safetensors copy with its sha256.

    Runs on the CPU whatever ``cfg.device`` says (ONNX export and the ONNX Runtime check are CPU work).
    Returns {"onnx", "weights", "max_abs_diff" {output: value}}.
    """
    from mpt.engine.builders import load_image_model
    from mpt.engine.checkpoint import export_folder, export_model, load_exported, write_sha256

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise MptError(f"mpt-export needs onnx and onnxruntime ({exc}): pip install 'mpt[export]'") from None
    if cfg.opset < MIN_OPSET:
        raise MptError(f"opset must be >= {MIN_OPSET} (LayerNormalization), got {cfg.opset}")
    if cfg.verify_batch < 1:
        raise MptError(f"verify_batch must be >= 1, got {cfg.verify_batch}")
    folder = export_folder(cfg.checkpoint)
    out = Path(cfg.out)
    if out.resolve() == folder.resolve():
        raise MptError(f"out={out} is the checkpoint folder itself; write the export to another folder")
    exported = load_exported(folder)
    model, _, mcfg = load_image_model(cfg, torch.device("cpu"), exported)
    out.mkdir(parents=True, exist_ok=True)
    copy_cfg = OmegaConf.merge(exported.config, {"backbone": OmegaConf.merge(mcfg.backbone, {"weights": None})})
    generator = torch.Generator().manual_seed(int(cfg.seed))
    images = torch.randn(cfg.verify_batch, 3, CROP_SIZE, CROP_SIZE, generator=generator)
    with atomic_path(out / "model.onnx") as tmp:
        export_onnx(model, tmp, cfg.opset)
        diff = onnx_vs_torch(model, tmp, images)
        worst = max(diff.values())
        print(f"ONNX Runtime vs PyTorch on {cfg.verify_batch} random images, max |difference|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))  # fmt: skip
        if not worst <= cfg.tolerance:
            raise MptError(f"the ONNX graph differs from PyTorch by {worst:.3g} (> tolerance {cfg.tolerance}); "
                           "model.onnx was not written. Try another opset= or report the versions of torch and "
                           "onnxruntime")  # fmt: skip
    weights = export_model(model, copy_cfg, out)  # the backbone's weights are in the state dict now
    write_sha256(out / "model.onnx", out / "model.onnx.sha256")
    print(f"wrote {out / 'model.onnx'} (opset {cfg.opset}), {weights} and their sha256 files")
    return {"onnx": str(out / "model.onnx"), "weights": str(weights), "max_abs_diff": diff}
