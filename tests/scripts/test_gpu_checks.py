"""scripts/bench/gpu_checks.py on the CPU: the checks gpu.sh runs on a GPU must be able to fail. The resume check
reports FAIL when a run starts over instead of resuming (it once deleted its own copied checkpoint and passed), and
the CUDA-tests step runs without pytest-xdist, which the device image lacks."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_checks():
    spec = importlib.util.spec_from_file_location("gpu_checks", ROOT / "scripts" / "bench" / "gpu_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(demo_assets, demo_cache, shared_cache_dir, work: Path) -> argparse.Namespace:
    return argparse.Namespace(assets=demo_assets.root, device="cpu", model="tiny", input="heatmap56", batch=4,
                              steps=4, work=work, cache=shared_cache_dir, motion_cache=demo_cache,
                              tests_root=ROOT)  # fmt: skip


@pytest.mark.slow
def test_the_resume_check_passes_and_fails_when_resume_is_broken(gpu_checks, demo_assets, demo_cache, shared_cache_dir,
                                                                 tmp_path, monkeypatch, cpu_world):  # fmt: skip
    args = _args(demo_assets, demo_cache, shared_cache_dir, tmp_path)
    status, detail = gpu_checks.pretrain_fp32(args)
    assert status == "PASS", detail
    status, detail = gpu_checks.resume(args)
    assert status == "PASS", detail
    assert "logged steps 3..4 (expected 3..4)" in detail

    # Broken: the trainer finds no checkpoint and trains from step 0 with the same seeds, ending on the same
    # weights as the uninterrupted run; only the steps it trained tell.
    import mpt.engine.trainer as trainer

    monkeypatch.setattr(trainer, "latest_tag", lambda ckpt_dir: None)
    status, detail = gpu_checks.resume(args)
    assert status == "FAIL", detail
    assert "logged steps 1..4 (expected 3..4)" in detail and "weights max |diff| 0.00e+00" in detail
    monkeypatch.undo()

    # Broken the way the check itself was: the run folder (and the copied checkpoint) deleted before resuming.
    real = gpu_checks._pretrain
    monkeypatch.setattr(gpu_checks, "_pretrain", lambda *a, fresh=True, **kw: real(*a, fresh=True, **kw))
    status, detail = gpu_checks.resume(args)
    assert status == "FAIL", detail


def test_the_cuda_tests_step_runs_without_pytest_xdist(gpu_checks, tmp_path):
    """``-p no:xdist`` makes pytest behave as on the device image; the project's ``-n auto`` would then be an unknown
    option (a usage error, exit 4) unless the check replaces the addopts."""
    args = argparse.Namespace(tests_root=ROOT)
    status, detail = gpu_checks.cuda_tests(args)
    assert (status, detail) == ("SKIP", "2 skipped in " + detail.split(" in ")[-1]), detail
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    plain = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                            "tests/synthesis/test_pipeline.py::test_cuda_matches_cpu"], cwd=ROOT, env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert plain.returncode == 4 and "-n" in plain.stderr, plain.stderr[-500:]
