"""input.crop_size reaches the image sets: fine-tuning cuts crops of the model's crop side, not a fixed 224."""

from mpt.config import compose_config
from mpt.engine.image_batches import build_image_set, build_mixed


def test_finetuning_sets_cut_crops_of_input_crop_size(demo_tsv) -> None:
    cfg = compose_config("finetune", ["data=demo_mixed", f"paths.tsv={demo_tsv}", "input.crop_size=96"])
    mixed = build_mixed(cfg)
    assert [d.img_size for d in mixed.datasets] == [96, 96]
    assert tuple(mixed.datasets[0][0]["image"].shape) == (3, 96, 96)
    val = build_image_set(cfg.data.val, train=False, seed=cfg.seed, img_size=cfg.input.crop_size)
    assert tuple(val[0]["image"].shape) == (3, 96, 96)
