"""Pre-training validation on held-out motions: overall and per validation camera, against per-sample errors
computed here and grouped with numpy, and the meshes' thickness against numpy's SVD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpt.config import compose_config
from mpt.data.motion_cache import MotionCache
from mpt.engine.builders import build_body_model, build_cameras, build_model, build_synthesizer, build_val_cameras
from mpt.engine.distributed import setup_distributed
from mpt.engine.pretrain import PretrainTask
from mpt.engine.targets import VertexDownsampler
from mpt.metrics import h36m_p2_errors


def test_validation_reports_every_camera(demo_assets, demo_cache, shared_cache_dir):
    cfg = compose_config("pretrain", ["model=tiny", "input=heatmap56", "device=cpu", "train.micro_batch=5",
                                      "train.max_val_samples=23", f"paths.data_root={demo_assets.root}",
                                      f"paths.motion_cache={demo_cache}", f"paths.cache={shared_cache_dir}"])  # fmt: skip
    dist = setup_distributed("cpu")
    body = build_body_model(cfg, genders_from_cache=True)
    model, levels = build_model(cfg, body)
    model.eval()
    val_synth = build_synthesizer(cfg, body, build_val_cameras(cfg))
    cache = MotionCache(demo_cache, "val")
    task = PretrainTask(cfg, dist, body, build_synthesizer(cfg, body, build_cameras(cfg)), VertexDownsampler(levels),
                        MotionCache(demo_cache, "train"), cache, val_synth)  # fmt: skip
    with torch.no_grad():
        got = task.validate(model)

    # The same rows, one at a time, each through the camera i % 4 of its cache row i.
    rows = task.val_indices
    # Thickness: the smallest singular value of the centred vertices over sqrt(V) (numpy's SVD), in mm.
    errors = {"mpjpe": [], "pa_mpjpe": []}
    depth = {"pred": [], "truth": []}
    with torch.no_grad():
        for i in rows:
            syn = val_synth(cache.batch(np.array([i])), None, train=False, camera_idx=torch.tensor([i % 4]))
            vertices = model(syn["inputs"])["vertices"]
            e = h36m_p2_errors(vertices, syn["joints3d"], body.h36m_regressor)
            for k in errors:
                errors[k].append(float(e[k][0]))
            for k, v in (("pred", vertices[0]), ("truth", syn["vertices"][0])):
                v = v.double().numpy()
                depth[k].append(np.linalg.svd(v - v.mean(axis=0), compute_uv=False)[-1] / np.sqrt(len(v)) * 1000)
    cams = rows % 4
    for k, values in errors.items():
        values = np.array(values)
        assert got[k] == pytest.approx(values.mean(), rel=1e-5)
        for c, name in enumerate(val_synth.cameras.names):
            assert got[f"{k}_{name}"] == pytest.approx(values[cams == c].mean(), rel=1e-5)
    assert got["thickness_mm"] == pytest.approx(np.mean(depth["pred"]), rel=1e-4)
    assert got["thickness_ratio"] == pytest.approx(np.mean(depth["pred"]) / np.mean(depth["truth"]), rel=1e-4)
    assert np.mean(depth["truth"]) > 30  # a body seen whole: tens of mm deep
    assert len(got) == 4 + 2 * 4
