"""Fixtures for engine tests: a motion cache and image sets built from the demo assets, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_DIST_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE", "GROUP_RANK")


@pytest.fixture(scope="session")
def demo_cache(demo_assets, tmp_path_factory) -> Path:
    """The demo motions prepared into a motion cache (val = the DemoMocapB dataset)."""
    from mpt.data.prepare_amass import prepare_amass

    out = tmp_path_factory.mktemp("amass_cache")
    prepare_amass(demo_assets.amass_dir, out, val_datasets=["DemoMocapB"], target_fps=30.0)
    return out


@pytest.fixture(scope="session")
def demo_tsv(demo_assets, tmp_path_factory) -> Path:
    """Small demo image sets (METRO TSV) rendered from the demo body."""
    from tools.make_demo_tsv import make_demo_tsv

    out = tmp_path_factory.mktemp("tsv")
    make_demo_tsv(demo_assets, out, n_train=32, n_valid=12, n_coco=16)
    return out


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory) -> Path:
    """paths.cache shared by all runs of the session, so the mesh levels are computed once."""
    return tmp_path_factory.mktemp("derived")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child run: no inherited rank variables, one thread per process."""
    env = {k: v for k, v in os.environ.items() if k not in _DIST_ENV}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run_cli(args: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=clean_env(**env), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
