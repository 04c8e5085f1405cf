"""METRO composite yaml + linelist read as METRO's CompositeTSVFile reads them (microsoft/MeshTransformer
metro/utils/tsv_file.py): item i is row ``row`` of source set ``source`` of linelist line i, in file order, repeats
kept; source k's files are entry k of the yaml's img / label lists, joined to the yaml's folder.

The expected rows are computed here by hand from the raw files (the label TSVs' first columns, line by line), not
through mpt's TSV reader."""

from __future__ import annotations

import pytest
import torch

from mpt.data.composite import CompositeTSVDataset, read_composite
from mpt.data.image_dataset import ImageSetError, MeshTSVDataset

SOURCES = [("human3.6m", "train"), ("coco_smpl", "train")]
# Out of order, interleaved, one pair twice, a source's last row: every line is one item.
LINES = [(1, 3), (0, 0), (0, 5), (1, 0), (0, 5), (1, 15), (0, 31)]


def _write_composite(tsv, folder, lines=LINES, img_key=None) -> None:
    """A composite beside the demo sets, laid out as METRO's download: <tsv>/<folder>/train.yaml, paths '../set/..'."""
    comp = tsv / folder
    comp.mkdir(exist_ok=True)
    img = img_key or "[" + ", ".join(f"../{s}/{p}.img.tsv" for s, p in SOURCES) + "]"
    (comp / "train.yaml").write_text(
        "composite: true\n"
        f"img: {img}\n"
        "label: [" + ", ".join(f"../{s}/{p}.label.tsv" for s, p in SOURCES) + "]\n"
        "hw: [" + ", ".join(f"../{s}/{p}.hw.tsv" for s, p in SOURCES) + "]\n"
        "linelist: train.linelist.tsv\n"
    )
    (comp / "train.linelist.tsv").write_text("".join(f"{s}\t{r}\n" for s, r in lines))


def _names_by_hand(tsv, source: int) -> list[str]:
    s, p = SOURCES[source]
    return [line.split("\t", 1)[0] for line in (tsv / s / f"{p}.label.tsv").read_text().splitlines()]


@pytest.fixture()
def tsv(demo_tsv, tmp_path):
    """The demo sets (read-only, shared) seen through symlinks, with room for composites beside them."""
    root = tmp_path / "tsv"
    root.mkdir()
    for s, _ in SOURCES:
        (root / s).symlink_to(demo_tsv / s)
    return root


def test_rows_and_order_are_the_linelists(tsv):
    _write_composite(tsv, "mix")
    ds = CompositeTSVDataset(tsv / "mix" / "train.yaml")
    by_hand = [_names_by_hand(tsv, 0), _names_by_hand(tsv, 1)]
    assert len(ds) == len(LINES)
    assert [ds.image_name(i) for i in range(len(ds))] == [by_hand[s][r] for s, r in LINES]
    assert ds.source_rows() == [("mix:human3.6m/train", 4), ("mix:coco_smpl/train", 3)]
    # An item's labels are those of the named row of its own set (untrained: no augmentation).
    plain = [MeshTSVDataset(tsv / s, p) for s, p in SOURCES]
    for i, (s, r) in enumerate(LINES):
        item, want = ds[i], plain[s][r]
        assert int(item["index"]) == i
        for key in ("joints2d", "joints3d", "has_3d", "image"):
            assert torch.equal(item[key], want[key]), (i, key)


def test_a_training_composite_augments_repeated_lines_independently(tsv):
    _write_composite(tsv, "mix")
    ds = CompositeTSVDataset(tsv / "mix" / "train.yaml", train=True, seed=5)
    assert ds.aug_params(2) != ds.aug_params(4)  # lines 2 and 4 both name (0, 5)
    assert ds.aug_params(2, epoch=1) != ds.aug_params(2, epoch=0)


def test_list_files_and_absolute_paths_as_metro_accepts(tsv):
    """img may name a text file listing the TSVs (METRO's load_list_file); the listed paths join the yaml's folder."""
    comp = tsv / "listed"
    comp.mkdir()
    (comp / "img.txt").write_text("".join(f"../{s}/{p}.img.tsv\n" for s, p in SOURCES))
    _write_composite(tsv, "listed", img_key="img.txt")
    spec = read_composite(comp / "train.yaml")
    assert [f["img"] for f in spec.sources] == [comp / f"../{s}/{p}.img.tsv" for s, p in SOURCES]
    assert spec.pairs.tolist() == [list(p) for p in LINES]


@pytest.mark.parametrize(("lines", "needle"), [([(0, 1), (2, 0)], "line 2: source 2 / row 0 is outside the 2 source"),
                                               ([(1, 16)], "line 1 names row 16 of source set 1 (coco_smpl/train)")])
def test_a_linelist_naming_rows_that_do_not_exist_is_refused(tsv, lines, needle):
    _write_composite(tsv, "bad", lines=lines)
    with pytest.raises(ImageSetError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        CompositeTSVDataset(tsv / "bad" / "train.yaml")


def test_a_malformed_linelist_line_is_named(tsv):
    _write_composite(tsv, "bad")
    (tsv / "bad" / "train.linelist.tsv").write_text("0\t1\n7\n")
    with pytest.raises(ImageSetError, match=r"train.linelist.tsv, line 2: expected 'source<TAB>row'"):
        read_composite(tsv / "bad" / "train.yaml")


def test_fine_tuning_data_reads_the_composite_through_its_config(tsv, capsys):
    """data.sets naming a composite folder (as data=metro_mix does) yields the composite; finetune's start-up lines
    give the rows per source set and the total steps."""
    from mpt.config import compose_config
    from mpt.engine.finetune import describe_mixture
    from mpt.engine.image_batches import build_mixed

    _write_composite(tsv, "Tax-H36m-coco40k-Muco-UP-Mpii")
    cfg = compose_config("finetune", ["data=metro_mix", f"paths.tsv={tsv}", "train.micro_batch=2", "train.epochs=3"])
    mixed = build_mixed(cfg)
    assert len(mixed) == len(LINES) and isinstance(mixed.datasets[0], CompositeTSVDataset)
    text = describe_mixture(cfg, mixed, world_size=1)
    assert "metro_mix:human3.6m/train: 4 rows" in text and "metro_mix:coco_smpl/train: 3 rows" in text
    assert "total: 7 rows; 3 steps per epoch of 2 samples" in text and "x 3 epochs = 9 steps" in text
