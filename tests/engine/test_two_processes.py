"""Two processes (``torch.distributed.run``, gloo on the CPU) against one: pre-training with the global batch split
over the ranks (and ZeRO-2 partitioning the optimizer over them), BatchNorm statistics equal on both ranks and an
exact checkpoint + resume with both ranks, evaluation as an all-reduce of sums, and the NaN guard stopping every rank
when one rank sees a NaN."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.helpers import clean_env, logged, run_cli

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
# Synthesis and model without randomness (no jitter, heading, heatmap or vertex masking, dropout; one camera).
NO_RANDOMNESS = ["model=tiny", "input=heatmap56", "cameras=h36m1", "input.scale_jitter=[1.0,1.0]",
                 "input.center_jitter=0.0", "input.mask_joint_ratio=0.0", "input.random_heading=false",
                 "model.transformer.dropout=0.0", "model.transformer.attention_dropout=0.0",
                 "model.transformer.mvm_ratio=0.0"]  # fmt: skip
# ... and without cross-sample statistics (GroupNorm in place of the encoder's BatchNorm): a sample's loss then
# depends on its row alone, so a global batch of 8 rows gives the same gradient whether one process reads all 8 or
# two processes read 4 each. BatchNorm's own test is test_batchnorm_statistics_agree_over_ranks_and_a_resume_is_exact.
DETERMINISTIC = [*NO_RANDOMNESS, "model.encoder.norm=group"]
STEPS = 6
RUN = ["train.max_steps=6", "train.lr=1e-3", "train.max_val_samples=16", "train.log_every=1", "device=cpu"]
COMMON = [*DETERMINISTIC, *RUN, "train.val_every=6", "train.ckpt_every=2"]


def _paths(demo_assets, demo_cache, cache_dir, out: Path) -> list[str]:
    return [f"paths.data_root={demo_assets.root}", f"paths.motion_cache={demo_cache}", f"paths.cache={cache_dir}",
            f"paths.output_dir={out}"]  # fmt: skip


def _torchrun(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TORCHRUN, *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def _assert_close_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_allclose(wb[key], wa[key], rtol=0, atol=atol, err_msg=key)


@pytest.mark.slow
def test_two_ranks_train_as_one_with_the_same_global_batch(demo_assets, demo_cache, shared_cache_dir, tmp_path):
    one = tmp_path / "one"
    res = run_cli(["mpt.cli.pretrain", *COMMON, "train.micro_batch=8",
                   *_paths(demo_assets, demo_cache, shared_cache_dir, one)], tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    two = tmp_path / "two"
    cmd = ["--no-python", sys.executable, "-m", "mpt.cli.pretrain", *COMMON, "train.micro_batch=4", "deepspeed=zero2"]
    res = _torchrun([*cmd, *_paths(demo_assets, demo_cache, shared_cache_dir, two)], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]

    # Each rank read its own half of the 8 rows: the logged loss (averaged over the ranks) and the weights are those
    # of one process reading all 8. Had both ranks read the same 4 rows, the losses would differ by far more.
    l1, l2 = [r["loss"] for r in logged(one, "train")], [r["loss"] for r in logged(two, "train")]
    assert len(l1) == len(l2) == STEPS
    np.testing.assert_allclose(l2, l1, rtol=1e-4)  # float32 sums split differently (and ZeRO's flat buffers)
    assert l1[-1] < l1[0]
    # Adam divides each gradient by its running RMS, so a weight whose gradient is at rounding level moves by up to
    # lr either way: 1e-4 is a tenth of one step at lr 1e-3 (measured: 2.1e-5 at most after 6 steps)
    _assert_close_weights(one, two, atol=1e-4)
    v1, v2 = logged(one, "val")[-1], logged(two, "val")[-1]  # validation all-reduced over both ranks
    assert v2["mpjpe"] == pytest.approx(v1["mpjpe"], rel=1e-4) and v2["pa_mpjpe"] == pytest.approx(v1["pa_mpjpe"],
                                                                                                  rel=1e-4)  # fmt: skip
    # ZeRO-2 saved one optimizer partition per rank
    parts = sorted(p.name for p in (two / "checkpoints" / "step00000006").glob("*optim_states.pt"))
    assert parts == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]


def _statistics(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in load_file(path).items() if k.endswith(("running_mean", "running_var"))}


def _assert_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)


@pytest.mark.slow
def test_batchnorm_statistics_agree_over_ranks_and_a_resume_is_exact(demo_assets, demo_cache, shared_cache_dir,
                                                                      tmp_path):  # fmt: skip
    """The encoder's BatchNorm (the default; the test above needs GroupNorm): each rank normalises its own 4 rows, so
    its running statistics follow them, and DeepSpeed never synchronises buffers. The trainer averages them over the
    ranks before every validation, checkpoint and export (mpt.engine.distributed.average_batchnorm_statistics).
    Validation at steps 3 and 6, checkpoints at 2, 4 and 6, so the checkpoint at step 4 holds statistics that
    trained a step since the last validation; the resume starts there."""
    args = [*NO_RANDOMNESS, *RUN, "train.val_every=3", "train.ckpt_every=2", "train.micro_batch=4", "deepspeed=zero2"]
    cmd = ["--no-python", sys.executable, "-m", "tests.engine.bn_ranks"]
    run = tmp_path / "run"
    res = _torchrun([*cmd, str(tmp_path / "bn_run"), *args, *_paths(demo_assets, demo_cache, shared_cache_dir, run)],
                    tmp_path, PYTHONPATH=str(ROOT))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    for step in (3, 6):  # both ranks validated with the same statistics, and they moved from BatchNorm's 0 / 1
        rank0, rank1 = (_statistics(tmp_path / "bn_run" / f"rank{r}_step{step}.safetensors") for r in (0, 1))
        _assert_equal(rank0, rank1)
        assert max(float(np.abs(v - (k.endswith("var"))).max()) for k, v in rank0.items()) > 1e-3
    _assert_equal(rank0, _statistics(run / "model.safetensors"))  # the export carries them

    # Both ranks resume from the step-4 checkpoint and finish exactly as the uninterrupted run did: the same
    # weights and statistics, bit for bit, the same losses and validation errors.
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    (resumed / "model.safetensors").unlink()
    (resumed / "checkpoints" / "latest").write_text("step00000004\n")
    paths = _paths(demo_assets, demo_cache, shared_cache_dir, resumed)
    res = _torchrun([*cmd, str(tmp_path / "bn_resumed"), *args, "train.resume=true", *paths], tmp_path,
                    PYTHONPATH=str(ROOT))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"at step 4/{STEPS}" in res.stdout
    _assert_close_weights(run, resumed, atol=0)
    for rank in (0, 1):
        _assert_equal(_statistics(tmp_path / "bn_run" / f"rank{rank}_step6.safetensors"),
                      _statistics(tmp_path / "bn_resumed" / f"rank{rank}_step6.safetensors"))  # fmt: skip
    # the resumed run appended steps 5 and 6 and the validation at 6 to the copied log
    assert [r["loss"] for r in logged(resumed, "train")][-2:] == [r["loss"] for r in logged(run, "train")][-2:]
    (v_run, v_resumed) = (logged(folder, "val")[-1] for folder in (run, resumed))
    assert (v_resumed["mpjpe"], v_resumed["pa_mpjpe"]) == (v_run["mpjpe"], v_run["pa_mpjpe"])


@pytest.mark.slow
def test_two_process_evaluation_equals_one_process(demo_assets, demo_tsv, export_dir, tmp_path):
    """The 12 validation images, one per forward pass in both runs: every per-sample error is then the same float32
    number in both (a batch of another size may round differently), and their float64 sums are exact in any order,
    so the all-reduced means must equal the single process's to the last bit."""
    args = ["mpt.cli.evaluate", f"checkpoint={export_dir}", "device=cpu", "batch_size=1", f"paths.tsv={demo_tsv}",
            f"paths.smpl={demo_assets.smpl_dir}",
            f"paths.h36m_regressor={demo_assets.h36m_regressor}", f"paths.cache={export_dir.parent / 'cache'}"]  # fmt: skip
    res = run_cli([*args, f"paths.output_dir={tmp_path}/one"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    res = _torchrun(["--no-python", sys.executable, "-m", *args, f"paths.output_dir={tmp_path}/two"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "eval.json").read_text())["metrics"]
    two = json.loads((tmp_path / "two" / "eval.json").read_text())["metrics"]
    assert one["count"] == two["count"] == 12  # every sample once: no padding, none dropped
    assert two == one


@pytest.mark.slow
def test_a_nan_on_one_rank_stops_every_rank(tmp_path):
    res = _torchrun(["--no-python", sys.executable, "-m", "tests.engine.nan_on_one_rank", str(tmp_path)], ROOT,
                    PYTHONPATH=str(ROOT))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    for rank in (0, 1):
        message = (tmp_path / f"rank{rank}.txt").read_text()
        assert "non-finite loss at step 5" in message and "step00000004" in message, (rank, message)
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step00000004"
