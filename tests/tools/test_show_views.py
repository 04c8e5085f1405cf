"""tools/show_views.py writes its two pictures (non-blank, one heatmap row per camera)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from tools.show_views import main


def test_writes_both_pictures(demo_assets, tmp_path) -> None:
    main(["--smpl", str(demo_assets.smpl_dir), "--regressor", str(demo_assets.h36m_regressor),
          "--out", str(tmp_path), "--size", "56"])  # fmt: skip
    top = plt.imread(tmp_path / "cameras_topdown.png")
    grid = plt.imread(tmp_path / "heatmaps_by_view.png")
    for img in (top, grid):
        assert img.ndim == 3 and img[..., :3].std() > 0.05  # drawn, not blank
    assert grid.shape[0] > 3 * grid.shape[1]  # 8 rows of 2 panels: a tall picture
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert np.isfinite(top).all()
