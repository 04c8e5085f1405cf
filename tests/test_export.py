"""mpt-export: the ONNX graph of a small image model (tiny MPT + HigherHRNet-w32) against PyTorch with ONNX Runtime,
its dynamic batch axis and metadata, the sha256 files (checked with hashlib) and the weights copy."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the export extra (onnx, onnxruntime) is not installed")

from mpt.config import compose_config  # noqa: E402
from mpt.errors import MptError  # noqa: E402
from mpt.export import export  # noqa: E402
from tests.helpers import infer_config, temp_files  # noqa: E402

ONNX_TOLERANCE = 1e-4  # metres (0.1 mm): float32 kernels of two runtimes; measured ~1e-7 on this model


def export_config(assets, checkpoint, out, cache, *extra: str):
    return compose_config("export", [f"checkpoint={checkpoint}", f"out={out}", f"paths.smpl={assets.smpl_dir}",
                                     f"paths.h36m_regressor={assets.h36m_regressor}", f"paths.cache={cache}",
                                     *extra])  # fmt: skip


@pytest.fixture(scope="module")
def exported(demo_assets, export_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx_export")
    src = export_dir
    result = export(export_config(demo_assets, src, root / "onnx", root / "cache", "verify_batch=1"))
    return src, root / "onnx", result


def test_onnx_matches_pytorch_with_a_dynamic_batch(exported, demo_assets):
    import onnx
    import onnxruntime as ort

    from mpt.engine.builders import load_image_model

    src, out, result = exported
    assert max(result["max_abs_diff"].values()) < ONNX_TOLERANCE
    proto = onnx.load(str(out / "model.onnx"))
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["vertices", "joints", "camera"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = {p.key: p.value for p in proto.metadata_props}
    assert "ImageNet" in meta["input.images"]
    model, _, _ = load_image_model(compose_config("infer", [f"checkpoint={src}", f"paths.smpl={demo_assets.smpl_dir}",
                                                            f"paths.h36m_regressor={demo_assets.h36m_regressor}",
                                                            f"paths.cache={out.parent / 'cache'}"]),
                                   torch.device("cpu"))  # fmt: skip
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(5))  # another batch size
    got = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"images": images.numpy()}
    )
    with torch.no_grad():
        want = model(images)
    for name, value in zip(("vertices", "joints", "camera"), got, strict=True):
        assert value.shape == tuple(want[name].shape)
        assert np.abs(value - want[name].numpy()).max() < ONNX_TOLERANCE


def test_sha256_files_and_the_weights_copy(exported, demo_assets, tmp_path):
    src, out, _ = exported
    for weights, digest in (("model.onnx", "model.onnx.sha256"), ("model.safetensors", "model.sha256")):
        want = hashlib.sha256((out / weights).read_bytes()).hexdigest()
        assert (out / digest).read_text().split() == [want, weights]
    # The copy names its backbone and holds its weights: loaded as an image model it equals the source.
    from omegaconf import OmegaConf

    from mpt.engine.builders import load_image_model

    copy_cfg = OmegaConf.load(out / "config.yaml")
    assert copy_cfg.backbone.name == "higherhrnet_w32" and copy_cfg.backbone.weights is None
    states = []
    for ckpt in (src, out):
        model, _, _ = load_image_model(infer_config(demo_assets, ckpt, tmp_path, tmp_path, out.parent / "cache"),
                                       torch.device("cpu"))  # fmt: skip
        states.append(model.state_dict())
    assert states[0].keys() == states[1].keys() and any(k.startswith("backbone.") for k in states[0])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_bad_options_and_checkpoints_are_clear_errors(exported, demo_assets, tmp_path):
    src, out, _ = exported
    cache = out.parent / "cache"
    with pytest.raises(MptError, match="opset must be >= 17"):
        export(export_config(demo_assets, src, tmp_path / "o", cache, "opset=13"))
    with pytest.raises(MptError, match="is the checkpoint folder itself"):
        export(export_config(demo_assets, src, src, cache))
    with pytest.raises(MptError, match="does not exist"):
        export(export_config(demo_assets, tmp_path / "missing", tmp_path / "o", cache))
    assert not (tmp_path / "o").exists()


def test_a_graph_above_the_tolerance_is_not_written(exported, demo_assets, tmp_path, monkeypatch):
    """A graph whose ONNX Runtime outputs are off by a known 0.01 (injected into the session's results) against
    tolerance 0.001: the graph is refused with the difference it measured, and an older model.onnx in the folder
    stays as it was; nothing else is written."""
    import onnxruntime

    class Shifted(onnxruntime.InferenceSession):
        def run(self, *args, **kwargs):
            return [out + np.float32(0.01) for out in super().run(*args, **kwargs)]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Shifted)
    src, out, _ = exported
    target = tmp_path / "o"
    target.mkdir()
    (target / "model.onnx").write_bytes(b"an older graph")
    with pytest.raises(MptError, match=r"differs from PyTorch by 0\.01 \(> tolerance 0\.001\); model.onnx was not "
                                       "written"):  # fmt: skip
        export(export_config(demo_assets, src, target, out.parent / "cache", "tolerance=0.001", "verify_batch=1"))
    assert (target / "model.onnx").read_bytes() == b"an older graph"
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx"] and temp_files(target) == []
