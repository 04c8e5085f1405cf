"""The Figure 2 tool on the session's exported image model: one PNG per image, the COCO weights' maps above the
fine-tuned ones (identical blocks when the weights are identical), and clear errors for unusable inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mpt.engine.checkpoint import load_exported
from mpt.errors import MptError
from tools.standin.show_pose_maps import COLUMNS, PANEL, TITLE_H, main, show_pose_maps


@pytest.fixture(scope="module")
def backbone_state(export_dir):
    state = load_exported(export_dir).state
    return {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}


def test_one_png_per_image_with_the_coco_maps_above_the_fine_tuned_ones(export_dir, demo_tsv, backbone_state,
                                                                       tmp_path):  # fmt: skip
    same = tmp_path / "same.pth"
    torch.save(backbone_state, same)  # "before" = the export's own pose network: the two blocks must agree
    written = show_pose_maps(export_dir, demo_tsv / "human3.6m", "valid_protocol2", tmp_path / "maps", images=2,
                             before=same)  # fmt: skip
    assert [p.suffix for p in written] == [".png", ".png"] and all(p.is_file() for p in written)
    block = TITLE_H + 3 * PANEL  # title, then 3 rows of 6 panels: the crop and 17 maps
    image = cv2.imread(str(written[0]))
    assert image.shape == (2 * block, COLUMNS * PANEL, 3)
    assert np.array_equal(image[TITLE_H:block], image[block + TITLE_H :])

    other = tmp_path / "other.pth"
    torch.manual_seed(0)
    torch.save({k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v for k, v in backbone_state.items()},
               other)  # fmt: skip
    assert main(["--checkpoint", str(export_dir), "--tsv", str(demo_tsv / "human3.6m"), "--out",
                 str(tmp_path / "other"), "--images", "1", "--before", str(other)]) == 0  # fmt: skip
    (changed,) = sorted((tmp_path / "other").glob("*.png"))
    image = cv2.imread(str(changed))
    assert not np.array_equal(image[TITLE_H + PANEL : block], image[block + TITLE_H + PANEL :])  # the maps differ
    assert np.array_equal(image[TITLE_H : TITLE_H + PANEL, :PANEL], image[block + TITLE_H : block + TITLE_H + PANEL,
                                                                          :PANEL])  # the same crop  # fmt: skip


def test_unusable_inputs_are_named(export_dir, demo_tsv, tmp_path):
    tsv = demo_tsv / "human3.6m"
    with pytest.raises(MptError, match="records no backbone.weights"):  # the test export started from random weights
        show_pose_maps(export_dir, tsv, "valid_protocol2", tmp_path)
    wrong = tmp_path / "pose_resnet_18.pth"
    from mpt.models.backbones import build_backbone

    torch.save(build_backbone("simplebaseline_r18").state_dict(), wrong)
    with pytest.raises(MptError, match="pose_resnet_18.pth does not match HigherHRNet"):
        show_pose_maps(export_dir, tsv, "valid_protocol2", tmp_path, before=wrong)
    assert main(["--checkpoint", str(tmp_path / "nothing"), "--tsv", str(tsv), "--out", str(tmp_path)]) == 2
