"""``deepspeed=bf16 / fp16 / zero1 / zero2`` on the CPU (DeepSpeed's CPU accelerator): four pre-training steps of the
tiny model on the demo motions, checkpoints, and a resume from step 2 that ends exactly where the uninterrupted run
did; each run against the same steps in fp32 with ZeRO stage 0. fp16, which DeepSpeed's CPU accelerator refuses
without oneDNN fp16 kernels, is trained by scripts/bench/gpu.sh on a GPU; here only its refusal is checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from mpt.config import compose_config
from mpt.errors import MptError
from tests.helpers import logged

PRETRAIN = ["model=tiny", "input=heatmap56", "cameras=h36m4", "train.micro_batch=4", "train.max_steps=4",
            "train.ckpt_every=2", "train.lr=1e-3", "train.val_every=100", "train.max_val_samples=4",
            "train.log_every=1", "device=cpu"]  # fmt: skip


def _cfg(demo_assets, demo_cache, cache: Path, out: Path, *extra: str):
    return compose_config("pretrain", [*PRETRAIN, f"paths.data_root={demo_assets.root}",
                                       f"paths.motion_cache={demo_cache}", f"paths.cache={cache}",
                                       f"paths.output_dir={out}", *extra])  # fmt: skip


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in logged(run)]


@pytest.fixture(scope="module")
def fp32_run(demo_assets, demo_cache, shared_cache_dir, tmp_path_factory) -> Path:
    from mpt.engine.pretrain import pretrain

    out = tmp_path_factory.mktemp("fp32") / "run"
    pretrain(_cfg(demo_assets, demo_cache, shared_cache_dir, out, "deepspeed=zero0"))
    return out


def _initial_weights(cfg) -> dict[str, torch.Tensor]:
    """The weights every run of ``cfg`` starts from (build_model seeds them with cfg.seed)."""
    from mpt.engine.builders import build_body_model, build_model

    model, _ = build_model(cfg, build_body_model(cfg, genders_from_cache=True))
    return {k: v.detach().float() for k, v in model.state_dict().items()}


def _update(run: Path, start: dict[str, torch.Tensor]) -> torch.Tensor:
    """The exported weights minus the initial ones, over every trained parameter, as one vector."""
    end = load_file(run / "model.safetensors")
    keys = [k for k in sorted(start) if "running_" not in k and "num_batches" not in k]
    return torch.cat([(torch.from_numpy(end[k]) - start[k]).flatten() for k in keys])


def test_fp16_on_a_machine_without_it_is_one_clear_error(cpu_world):
    """DeepSpeed's CPU accelerator refuses fp16 without oneDNN fp16 kernels; mpt says so in one error naming the
    way out, before DeepSpeed's traceback. fp16 training itself is checked on a GPU by scripts/bench/gpu.sh
    (scripts/bench/gpu_checks.py, 'pretrain fp16': its losses against the fp32 run's)."""
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    from mpt.engine.trainer import setup_engine

    if get_accelerator().is_fp16_supported():
        pytest.skip("this machine trains fp16 (scripts/bench/gpu.sh checks the run)")
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="Type fp16 is not supported on your device"):
        deepspeed.initialize(model=model, optimizer=torch.optim.Adam(model.parameters()),
                             config={"train_batch_size": 1, "fp16": {"enabled": True}})  # fmt: skip
    with pytest.raises(MptError, match="deepspeed=fp16: DeepSpeed's cpu accelerator cannot train in fp16.*zero0"):
        setup_engine(compose_config("pretrain", ["deepspeed=fp16", "device=cpu"]), cpu_world, model, 10)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["bf16", "zero1", "zero2"])
def test_training_checkpoint_and_exact_resume(group, demo_assets, demo_cache, shared_cache_dir, fp32_run, tmp_path):
    from mpt.engine.pretrain import pretrain

    run = tmp_path / "run"
    cfg = _cfg(demo_assets, demo_cache, shared_cache_dir, run, f"deepspeed={group}")
    pretrain(cfg)
    losses, reference = _losses(run), _losses(fp32_run)
    assert len(losses) == 4 and np.isfinite(losses).all()
    state = torch.load(run / "checkpoints" / "step00000004" / "mp_rank_00_model_states.pt", weights_only=False)
    dtypes = {k: v.dtype for k, v in state["module"].items() if v.is_floating_point()}
    if group in ("zero1", "zero2"):
        # fp32 and a world of one: ZeRO runs the same Adam on flattened buffers, so the run is the fp32 run
        np.testing.assert_allclose(losses, reference, rtol=1e-5)
        a, b = load_file(fp32_run / "model.safetensors"), load_file(run / "model.safetensors")
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-5, err_msg=key)
        assert set(dtypes.values()) == {torch.float32}
        assert (run / "checkpoints" / "step00000004" / "zero_pp_rank_0_mp_rank_00_optim_states.pt").is_file()
    else:
        # Step 1 trains at lr 0 (warm-up) and each step sees other samples, so the losses say little about
        # training; the weight update does. bf16 keeps 8 significant bits in the forward and backward, and its
        # update (fp32 master weights, end minus start) points where the fp32 run's does (measured: cosine 0.9992,
        # norm ratio 0.9998).
        start = _initial_weights(cfg)
        bf16, fp32 = _update(run, start), _update(fp32_run, start)
        cosine = float(torch.nn.functional.cosine_similarity(bf16, fp32, dim=0))
        ratio = float(bf16.norm() / fp32.norm())
        print(f"bf16 update against fp32's: cosine {cosine:.4f}, norm ratio {ratio:.4f}")
        assert cosine > 0.9 and 0.5 < ratio < 2, (cosine, ratio)
        # parameters in bf16, BatchNorm statistics fp32 (configs/deepspeed/bf16.yaml)
        assert {v for k, v in dtypes.items() if "running_" not in k} == {torch.bfloat16}
        assert {v for k, v in dtypes.items() if "running_" in k} == {torch.float32}

    # Resume from the step-2 checkpoint: optimizer state (fp32 master weights in reduced precision, ZeRO's flat
    # partitions) and schedule come back, and steps 3-4 repeat the uninterrupted run bit for bit.
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    (resumed / "model.safetensors").unlink()
    (resumed / "checkpoints" / "latest").write_text("step00000002\n")
    pretrain(_cfg(demo_assets, demo_cache, shared_cache_dir, resumed, f"deepspeed={group}", "train.resume=true"))
    assert _losses(resumed)[-2:] == losses[-2:]
    a, b = load_file(run / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
