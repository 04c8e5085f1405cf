"""A small METRO composite over the demo image sets, laid out as METRO's ``Tax-H36m-coco40k-Muco-UP-Mpii``.

METRO's download (microsoft/MeshTransformer docs/DOWNLOAD.md) puts the composite beside the sets it mixes:
``<tsv>/Tax-H36m-coco40k-Muco-UP-Mpii/train.yaml`` (``composite: true``; ``img`` / ``hw`` / ``label`` lists of the
sets' TSV files, relative to the yaml's folder) and ``train.linelist.tsv`` + ``.lineidx`` (one ``source<TAB>row``
per line; metro/utils/tsv_file.py ``CompositeTSVFile``). The demo's uses the same folder name, so ``data=metro_mix``
reads it with ``paths.tsv`` at the demo sets. Its linelist takes every Human3.6M training row and half of the COCO
rows ("coco40k" is likewise a subset of COCO), in a seeded shuffled order: a selection and an order that only the
linelist knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mpt.atomic import write_text_atomic
from mpt.data.tsv import write_tsv

COMPOSITE_FOLDER = "Tax-H36m-coco40k-Muco-UP-Mpii"  # METRO's composite's folder name
COMPOSITE_SPLIT = "train"


def write_composite(tsv_root: str | Path, sources: Sequence[tuple[str, str, int]], take: Sequence[float],
                    seed: int = 0) -> Path:  # fmt: skip
    """Write ``<tsv_root>/Tax-H36m-coco40k-Muco-UP-Mpii/train.yaml`` + ``train.linelist.tsv`` over ``sources``
    ((folder under tsv_root, split, row count) each); source k contributes its first ``round(take[k] * rows)`` rows.
    All pairs are shuffled together with ``seed``. Returns the yaml's path."""
    folder = Path(tsv_root) / COMPOSITE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(k, r) for k, ((_, _, rows), frac) in enumerate(zip(sources, take, strict=True))
             for r in range(round(frac * rows))]  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(pairs))
    write_tsv(folder / f"{COMPOSITE_SPLIT}.linelist.tsv", [(str(pairs[i][0]), str(pairs[i][1])) for i in order])
    lists = {kind: "".join(f"  - ../{name}/{split}.{kind}.tsv\n" for name, split, _ in sources)
             for kind in ("img", "hw", "label")}  # fmt: skip
    yaml_path = folder / f"{COMPOSITE_SPLIT}.yaml"
    write_text_atomic(yaml_path, "composite: true\n" + "".join(f"{k}:\n{v}" for k, v in lists.items())
                      + f"linelist: {COMPOSITE_SPLIT}.linelist.tsv\n")  # fmt: skip
    return yaml_path
