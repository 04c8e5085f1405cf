"""METRO's composite image sets: a yaml naming several TSV sets and a linelist naming the (set, row) pairs to use.

METRO fine-tunes on the composite ``Tax-H36m-coco40k-Muco-UP-Mpii`` (microsoft/MeshTransformer docs/EXP.md,
``--train_yaml Tax-H36m-coco40k-Muco-UP-Mpii/train.yaml``). Read here as METRO reads it
(metro/datasets/human_mesh_tsv.py ``MeshTSVYamlDataset`` with ``composite: true``; metro/utils/tsv_file.py
``CompositeTSVFile``):

- ``<split>.yaml`` holds ``composite: true`` and the keys ``img``, ``label`` (and ``hw``, unused here): each a list
  of TSV paths, or the name of a text file listing them one per line. Entry k of every list is source set k; each
  path is joined to the yaml's folder (METRO: ``op.join(root, f)``; an absolute path stays as it is).
- ``linelist`` names a text file (as given, else relative to the yaml's folder) with one ``source<TAB>row`` per line.
  Item i of the composite is row ``row`` of source set ``source`` of line i: every line is one item, in file order,
  and a pair listed twice is used twice. Only the first two columns count.

Sampling then treats the composite as one set of ``len(linelist)`` rows, as METRO's DistributedSampler does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset

from mpt.data.image_dataset import ImageSetError, MeshTSVDataset, seeded_aug_params
from mpt.data.transforms import AugParams

__all__ = ["CompositeSpec", "CompositeTSVDataset", "composite_yaml", "read_composite", "read_linelist_pairs"]

_HELP = ("a METRO composite yaml holds composite: true, img and label (each a list of TSV paths relative to the "
         "yaml's folder, or a file listing them) and linelist (a file of 'source<TAB>row' lines)")  # fmt: skip


class CompositeSpec:
    """A composite read from disk: per source set its img / label / hw paths and a name, and the (N, 2) pairs."""

    def __init__(self, yaml_path: Path, sources: list[dict[str, Path | None]], names: list[str],
                 pairs: np.ndarray) -> None:  # fmt: skip
        self.yaml_path, self.sources, self.names, self.pairs = yaml_path, sources, names, pairs


def composite_yaml(folder: str | os.PathLike[str], split: str) -> Path | None:
    """``<folder>/<split>.yaml`` if it describes a METRO composite, else None (a plain set, or no yaml)."""
    path = Path(folder) / f"{split}.yaml"
    if not path.is_file():
        return None
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None  # the plain-set reader reports the broken yaml
    return path if isinstance(cfg, dict) and cfg.get("composite", False) else None


def _find(name: str, root: Path) -> Path:
    """A path named in the yaml: as given when it exists, else joined to the yaml's folder (METRO's
    find_file_path_in_yaml)."""
    given = Path(name)
    return given if given.is_file() else root / given


def _file_list(value: Any, key: str, yaml_path: Path) -> list[str]:
    """The list of TSV paths of one key: a yaml list, or a text file listing them (METRO's load_list_file)."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, str):
        listing = _find(value, yaml_path.parent)
        if not listing.is_file():
            raise ImageSetError(f"{yaml_path}: {key} names the list file {listing}, which does not exist; {_HELP}")
        lines = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()]
        if lines and lines[-1] == "":
            lines = lines[:-1]
        return lines
    raise ImageSetError(f"{yaml_path}: {key} must be a list of TSV paths or the name of a file listing them; {_HELP}")


def read_linelist_pairs(path: Path, num_sources: int) -> np.ndarray:
    """The (N, 2) int64 (source, row) pairs of a composite linelist, one per line in file order."""
    pairs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.strip().split("\t")
            try:
                pairs.append((int(parts[0]), int(parts[1])))
            except (ValueError, IndexError):
                raise ImageSetError(f"{path}, line {number}: expected 'source<TAB>row' (two integers), got "
                                    f"{line.rstrip()!r}") from None  # fmt: skip
    out = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    bad = np.flatnonzero((out[:, 0] < 0) | (out[:, 0] >= num_sources) | (out[:, 1] < 0))
    if bad.size:
        raise ImageSetError(f"{path}, line {bad[0] + 1}: source {out[bad[0], 0]} / row {out[bad[0], 1]} is outside "
                            f"the {num_sources} source sets of the composite")  # fmt: skip
    return out


def _source_name(img: str) -> str:
    """A readable name for a source set from its img path: ``../human3.6m/train.img.tsv`` -> ``human3.6m/train``."""
    parts = [p for p in Path(img).parts if p not in ("..", ".", "/")]
    return "/".join(parts[-2:]).removesuffix(".tsv").removesuffix(".img")


def read_composite(yaml_path: str | os.PathLike[str]) -> CompositeSpec:
    """Read a composite yaml and its linelist (module docstring); every file named must exist."""
    yaml_path = Path(yaml_path)
    root = yaml_path.parent
    try:
        cfg = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ImageSetError(f"{yaml_path} cannot be read as YAML ({exc}); {_HELP}") from None
    if not isinstance(cfg, dict) or not cfg.get("composite", False):
        raise ImageSetError(f"{yaml_path} is not a composite (no 'composite: true'); {_HELP}")
    missing = [k for k in ("img", "label", "linelist") if not cfg.get(k)]
    if missing:
        raise ImageSetError(f"{yaml_path} lacks {', '.join(missing)}; {_HELP}")
    lists = {k: _file_list(cfg[k], k, yaml_path) for k in ("img", "label")}
    hw = _file_list(cfg["hw"], "hw", yaml_path) if cfg.get("hw") else None
    if len(lists["img"]) != len(lists["label"]) or (hw is not None and len(hw) != len(lists["img"])):
        raise ImageSetError(f"{yaml_path}: img, label (and hw) must list the same number of source sets, got "
                            f"{len(lists['img'])}, {len(lists['label'])}" + (f", {len(hw)}" if hw else ""))  # fmt: skip
    sources: list[dict[str, Path | None]] = []
    for k, (img, label) in enumerate(zip(lists["img"], lists["label"], strict=True)):
        files: dict[str, Path | None] = {"img": root / img, "label": root / label, "linelist": None,
                                         "hw": root / hw[k] if hw is not None else None}  # fmt: skip
        for key in ("img", "label"):
            if not files[key].is_file():  # type: ignore[union-attr]
                raise ImageSetError(f"{yaml_path}: source set {k}'s {key} file {files[key]} does not exist; "
                                    "download the sets the composite names beside it (paths are relative to its "
                                    "folder)")  # fmt: skip
        sources.append(files)
    linelist = _find(str(cfg["linelist"]), root)
    if not linelist.is_file():
        raise ImageSetError(f"{yaml_path}: its linelist {linelist} does not exist; {_HELP}")
    return CompositeSpec(yaml_path, sources, [_source_name(i) for i in lists["img"]],
                         read_linelist_pairs(linelist, len(sources)))  # fmt: skip


class CompositeTSVDataset(Dataset):
    """A METRO composite as one dataset: item i is the linelist's line i (module docstring).

    Items are those of :class:`mpt.data.image_dataset.MeshTSVDataset` (the same keys, crop and augmentation), with
    ``index`` = i. A seeded training composite draws item i's augmentation from (seed, epoch, i), so two lines
    naming the same row are augmented independently. A corrupt row is skipped forward within its source set.
    """

    def __init__(self, yaml_path: str | os.PathLike[str], name: str | None = None, train: bool = False,
                 img_size: int = 224, seed: int | None = None, aug: dict[str, float] | None = None) -> None:  # fmt: skip
        spec = read_composite(yaml_path)
        self.yaml_path = spec.yaml_path
        self.name = name or self.yaml_path.parent.name
        self.train, self.seed, self.epoch, self.aug = train, seed, 0, dict(aug or {})
        self.source_names = spec.names
        self.sources = [MeshTSVDataset(self.yaml_path.parent, self.yaml_path.stem, name=f"{self.name}:{n}",
                                       train=False, img_size=img_size, files=files)
                        for n, files in zip(spec.names, spec.sources, strict=True)]  # fmt: skip
        self.pairs = spec.pairs  # (N, 2) source, row
        if len(self.pairs) == 0:
            raise ImageSetError(f"composite {self.yaml_path} lists no rows in its linelist")
        sizes = np.asarray([len(s) for s in self.sources])
        beyond = np.flatnonzero(self.pairs[:, 1] >= sizes[self.pairs[:, 0]])
        if beyond.size:
            s, r = self.pairs[beyond[0]]
            raise ImageSetError(f"composite {self.yaml_path}: linelist line {beyond[0] + 1} names row {r} of source "
                                f"set {s} ({self.source_names[s]}), which has {sizes[s]} rows")  # fmt: skip

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def source_row(self, index: int) -> tuple[int, int]:
        """(source set, row in it) of item ``index``."""
        s, r = self.pairs[index]
        return int(s), int(r)

    def image_name(self, index: int) -> str:
        """The name (first column) of item ``index``'s label row in its source set."""
        s, r = self.source_row(index)
        return self.sources[s].image_name(r)

    def source_rows(self) -> list[tuple[str, int]]:
        """(source set name, linelist lines naming it) per source set, in the yaml's order."""
        counts = np.bincount(self.pairs[:, 0], minlength=len(self.sources))
        return [(f"{self.name}:{n}", int(c)) for n, c in zip(self.source_names, counts, strict=True)]

    def aug_params(self, index: int, epoch: int | None = None) -> AugParams:
        """Augmentation of item ``index`` in ``epoch`` (default: the current one); identity when not training."""
        if not self.train:
            return AugParams()
        return seeded_aug_params(self.seed, self.epoch if epoch is None else int(epoch), int(index) % len(self),
                                 self.aug)  # fmt: skip

    def load(self, index: int, params: AugParams) -> dict[str, torch.Tensor]:
        s, r = self.source_row(index)
        item = self.sources[s].load(r, params)
        item["index"] = torch.tensor(int(index) % len(self), dtype=torch.long)
        return item

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.load(index, self.aug_params(index))

    def __repr__(self) -> str:
        return f"CompositeTSVDataset(name='{self.name}', yaml='{self.yaml_path}', items={len(self)})"
