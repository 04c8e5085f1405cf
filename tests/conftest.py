"""Session-wide fixtures: the generated demo assets (stand-ins for the licence-gated SMPL/AMASS/H36M files)."""

from __future__ import annotations

import os

import pytest
import torch

from tests.helpers import DIST_ENV

# Under pytest-xdist (pyproject's addopts) the workers share the cores: one thread each on this 2-core machine.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


@pytest.fixture(autouse=True)
def _restore_rank_environment():
    """In-process runs call setup_distributed, which sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT ... for a
    world of one: put them back after every test, so no later test or child process inherits them."""
    saved = {k: os.environ.get(k) for k in DIST_ENV}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def _close_process_group():
    """The gloo group of in-process runs lives for the session (DeepSpeed caches its groups, so a process cannot
    create a second one) and is closed at its end."""
    yield
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


@pytest.fixture
def cpu_world():
    """This process as a world of one on the CPU (mpt.engine.distributed.setup_distributed), for trainer runs."""
    from mpt.engine.distributed import setup_distributed

    return setup_distributed("cpu")


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory):
    """Demo body model, H36M regressor and AMASS-format motions, generated once per test session."""
    from tools.standin.make_assets import make_demo_assets

    return make_demo_assets(tmp_path_factory.mktemp("demo_assets"), seed=0)


@pytest.fixture(scope="session")
def demo_body(demo_assets):
    """The neutral demo body with its H36M regressor, loaded through the same path as real SMPL files."""
    from mpt.body import BodyModel

    return BodyModel(demo_assets.smpl_dir, demo_assets.h36m_regressor)


@pytest.fixture(scope="session")
def demo_cache(demo_assets, tmp_path_factory):
    """The demo motions prepared into a motion cache (val = the DemoMocapB dataset)."""
    from mpt.data.prepare_amass import prepare_amass

    out = tmp_path_factory.mktemp("amass_cache")
    prepare_amass(demo_assets.amass_dir, out, val_datasets=["DemoMocapB"], target_fps=30.0)
    return out


@pytest.fixture(scope="session")
def demo_tsv(demo_assets, tmp_path_factory):
    """Small demo image sets (METRO TSV) rendered from the demo body."""
    from tools.standin.make_tsv import make_demo_tsv

    out = tmp_path_factory.mktemp("tsv")
    make_demo_tsv(demo_assets, out, n_train=32, n_valid=12, n_coco=16, n_keypoints=16)
    return out


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory):
    """paths.cache shared by all runs of the session, so the mesh levels are computed once."""
    return tmp_path_factory.mktemp("derived")


@pytest.fixture(scope="session")
def export_dir(demo_assets, demo_body, tmp_path_factory):
    """An exported tiny image model (tests.helpers.make_export) in <root>/model, its paths.cache in <root>/cache.
    Tests only read it; those that damage an export work on a copy."""
    from tests.helpers import make_export

    root = tmp_path_factory.mktemp("export")
    return make_export(demo_assets, demo_body, root / "model", root / "cache")
