"""``deepspeed=bf16 / fp16 / zero1 / zero2`` on the CPU (DeepSpeed's CPU accelerator): four pre-training steps of the
tiny model on the demo motions, checkpoints, and a resume from step 2 that ends exactly where the uninterrupted run
did; each run against the same steps in fp32 with ZeRO stage 0. A precision this machine cannot train in is skipped
only after checking that DeepSpeed itself refuses it; scripts/bench/gpu.sh trains it on a GPU."""

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


def _skip_if_this_machine_cannot(group: str, cpu_world) -> None:
    """Skip a reduced precision DeepSpeed's accelerator does not offer here, after checking that DeepSpeed really
    refuses it (so the skip can never hide a failure of ours) and that mpt says so in one clear error."""
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    if group != "fp16" or accelerator.is_fp16_supported():
        return
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="Type fp16 is not supported on your device"):
        deepspeed.initialize(model=model, optimizer=torch.optim.Adam(model.parameters()),
                             config={"train_batch_size": 1, "fp16": {"enabled": True}})  # fmt: skip
    from mpt.engine.trainer import setup_engine

    with pytest.raises(MptError, match="deepspeed=fp16: DeepSpeed's cpu accelerator cannot train in fp16"):
        setup_engine(compose_config("pretrain", ["deepspeed=fp16", "device=cpu"]), cpu_world, model, 10)
    why = "no fp16 on this machine"
    if accelerator.device_name() == "cpu" and not torch.ops.mkldnn._is_mkldnn_fp16_supported():
        why = "the CPU accelerator's fp16 needs oneDNN fp16 kernels (AVX512-FP16 / AMX-FP16), which this CPU lacks"
    pytest.skip(f"DeepSpeed refuses deepspeed=fp16 here ({why}); scripts/bench/gpu.sh trains fp16 on a GPU")


@pytest.mark.slow
@pytest.mark.parametrize("group", ["bf16", "fp16", "zero1", "zero2"])
def test_training_checkpoint_and_exact_resume(group, demo_assets, demo_cache, shared_cache_dir, fp32_run, tmp_path,
                                              cpu_world):  # fmt: skip
    from mpt.engine.pretrain import pretrain

    _skip_if_this_machine_cannot(group, cpu_world)
    run = tmp_path / "run"
    pretrain(_cfg(demo_assets, demo_cache, shared_cache_dir, run, f"deepspeed={group}"))
    losses, reference = _losses(run), _losses(fp32_run)
    assert len(losses) == 4 and np.isfinite(losses).all() and losses[-1] < losses[0]
    state = torch.load(run / "checkpoints" / "step00000004" / "mp_rank_00_model_states.pt", weights_only=False)
    dtypes = {v.dtype for v in state["module"].values() if v.is_floating_point()}
    if group in ("zero1", "zero2"):
        # fp32 and a world of one: ZeRO runs the same Adam on flattened buffers, so the run is the fp32 run
        np.testing.assert_allclose(losses, reference, rtol=1e-5)
        a, b = load_file(fp32_run / "model.safetensors"), load_file(run / "model.safetensors")
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-5, err_msg=key)
        assert dtypes == {torch.float32}
        assert (run / "checkpoints" / "step00000004" / "zero_pp_rank_0_mp_rank_00_optim_states.pt").is_file()
    else:
        # bf16 keeps 8 significant bits (fp16 11) in the forward and backward, so the losses follow the fp32 run's
        # to a couple of per cent only (measured: 1.7e-2 relative at most in bf16, 4 steps).
        np.testing.assert_allclose(losses, reference, rtol=5e-2)
        assert dtypes == {torch.bfloat16 if group == "bf16" else torch.float16}

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
