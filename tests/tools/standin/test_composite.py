"""The demo's METRO composite (tools/standin/composite.py, written by make_demo_tsv): the rows mpt trains on, and
their order, are what METRO's CompositeTSVFile gives (microsoft/MeshTransformer metro/utils/tsv_file.py): linelist
line i = row ``row`` of the ``source``-th TSV of the yaml's lists, the paths joined to the yaml's folder. Computed
here by hand from the raw files (yaml, linelist and label TSV lines), not through mpt's readers."""

from __future__ import annotations

import yaml

from mpt.data.composite import CompositeTSVDataset


def test_demo_composite_rows_and_order_are_metros(demo_tsv):
    folder = demo_tsv / "Tax-H36m-coco40k-Muco-UP-Mpii"
    spec = yaml.safe_load((folder / "train.yaml").read_text())
    assert spec["composite"] is True and len(spec["img"]) == len(spec["label"]) == len(spec["hw"]) == 2
    keys = [[line.split("\t")[0] for line in (folder / label).read_text().splitlines()] for label in spec["label"]]
    pairs = [tuple(int(x) for x in line.split("\t")[:2])
             for line in (folder / spec["linelist"]).read_text().splitlines()]  # fmt: skip
    expected = [keys[s][r] for s, r in pairs]

    ds = CompositeTSVDataset(folder / "train.yaml")
    assert [ds.image_name(i) for i in range(len(ds))] == expected
    # a selection only the linelist knows: every Human3.6M row, half of COCO's, interleaved
    n_h36m, n_coco = len(keys[0]), len(keys[1])
    assert sorted(p for p in pairs if p[0] == 0) == [(0, r) for r in range(n_h36m)]
    assert sorted(p for p in pairs if p[0] == 1) == [(1, r) for r in range(n_coco // 2)]
    assert pairs != sorted(pairs)
    assert ds.source_rows() == [("Tax-H36m-coco40k-Muco-UP-Mpii:human3.6m/train", n_h36m),
                                ("Tax-H36m-coco40k-Muco-UP-Mpii:coco_smpl/train", n_coco // 2)]  # fmt: skip
    assert (folder / "train.linelist.lineidx").is_file()  # as METRO ships it
