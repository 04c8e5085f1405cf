"""Session-wide fixtures: the generated demo assets (stand-ins for the licence-gated SMPL/AMASS/H36M files)."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory):
    """Demo body model, H36M regressor and AMASS-format motions, generated once per test session."""
    from tools.make_demo_assets import make_demo_assets

    return make_demo_assets(tmp_path_factory.mktemp("demo_assets"), seed=0)


@pytest.fixture(scope="session")
def demo_body(demo_assets):
    """The neutral demo body with its H36M regressor, loaded through the same path as real SMPL files."""
    from mpt.body import BodyModel

    return BodyModel(demo_assets.smpl_dir, demo_assets.h36m_regressor)
