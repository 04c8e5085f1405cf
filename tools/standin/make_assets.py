"""Generate the demo assets: stand-ins, in the real file formats, for the licence-gated SMPL, H36M and AMASS files.

python -m tools.standin.make_assets --out data/demo [--seed 0] [--force] [--size demo|study] [--scale F]

Layout written under ``--out`` (the same layout a user sets up with the real files):

    body_models/smpl/SMPL_NEUTRAL.pkl, SMPL_MALE.pkl, SMPL_FEMALE.pkl   smplx-loadable SMPL pickles (no chumpy)
    body_models/J_regressor_h36m_correct.npy                           (17, 6890) float64, METRO's format
    amass/<Dataset>/<Subject>/<motion>_<k>_poses.npz                    AMASS "SMPL+H G" sequence files
    amass/<Dataset>/<Subject>/shape.npz                                betas + gender only, as in AMASS downloads
    image_motions/<Dataset>/<Subject>/...                              (study size only) the same, for image sets
    demo_assets.json                                                   manifest (seed, version, sha256 per file)

Two corpus sizes (``--size``):

* ``demo`` (default): 10 motions of 5 actions (walk, squat, reach, bend, turn), 150-400 frames each, by 5 subjects
  in DemoMocapA (3 subjects, 120 fps) and DemoMocapB (2 subjects, 60 fps; the validation dataset of the demo,
  ``tools/prepare_amass.py --val-datasets DemoMocapB``): about 700 pre-training samples at 30 fps. Its files are
  byte-for-byte those of earlier versions for the same seed.
* ``study``: :data:`STUDY`, a corpus for measuring effects rather than running the code: 15 actions
  (tools/standin/study_motions.py: STUDY_KINDS), one to three per sequence, by subjects with their own body shape, gender,
  tempo, amplitude and handedness, from random headings along straight and curved paths. Roles of its datasets:
  ``train`` and ``val`` datasets go to amass/ (pre-training; ``--val-datasets`` = the val ones, whole held-out
  subjects), the ``images`` dataset to image_motions/: motions never seen in pre-training, for the Human3.6M-like
  image sets (``make_demo_tsv(DemoAssets.at(root).image_assets(), ...)``). ``--scale F`` multiplies every
  dataset's subject count (at least 1 each); a larger scale holds every motion of a smaller one unchanged, since
  each subject and each sequence draws from its own seed. At scale 1: about 50 000 training and 6 000 validation
  samples after ``tools/prepare_amass.py --target-fps 30``, and 56 image-set motions.

The body (tools/standin/body.py) does not depend on the seed; the motions do. Generation is deterministic for a given
seed, size and scale on a given platform; a second call with the same ones finds the manifest and writes nothing,
and another size or scale rebuilds (files the new corpus lacks are deleted). AMASS file keys and dtypes follow
nghorbani/amass support_data/github_data/amass_sample.npz; SMPL keys are those vchoutas/smplx
smplx/body_models.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mpt.atomic import atomic_path, write_json_atomic
from mpt.body import BodyModel
from mpt.body.smpl_file import GENDERS, save_smpl_pickle
from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError
from tools.standin.body import DemoBody, build_demo_body
from tools.standin.motions import make_sequence, subject_skeleton
from tools.standin.study_motions import STUDY_KINDS, Style, make_study_sequence

GENERATOR_VERSION = 1
STUDY_VERSION = 1  # version of the study corpus generator; recorded in the manifest's "size"
MANIFEST_NAME = "demo_assets.json"

# The demo size: (dataset folder, mocap frame rate, subjects as (folder, gender)); two sequences per subject.
AMASS_LAYOUT: tuple[tuple[str, float, tuple[tuple[str, str], ...]], ...] = (
    ("DemoMocapA", 120.0, (("S01", "male"), ("S02", "female"), ("S03", "male"))),
    ("DemoMocapB", 60.0, (("S04", "female"), ("S05", "neutral"))),
)
MOTION_KINDS = ("walk", "squat", "reach", "bend", "turn")
SEQUENCES_PER_SUBJECT = 2
FRAMES_RANGE = (150, 400)  # frames per sequence, inclusive
ROLE_FOLDERS = {"train": "amass", "val": "amass", "images": "image_motions"}  # where each dataset role goes


class DemoAssetsError(MptError, RuntimeError):
    """The demo assets cannot be written where asked."""


@dataclass(frozen=True)
class MocapDataset:
    """One AMASS-style dataset of a corpus: ``subjects`` subject folders named ``<prefix>001`` on."""

    name: str  # folder, e.g. StudyMocapA
    framerate: float  # mocap_framerate of its files
    subjects: int
    role: str  # "train" or "val" (pre-training splits, under amass/), "images" (under image_motions/)
    prefix: str  # subject folder prefix


@dataclass(frozen=True)
class CorpusSize:
    """A generated motion corpus: its datasets and how many and how long sequences each subject performs."""

    name: str
    datasets: tuple[MocapDataset, ...]
    sequences_per_subject: int
    seconds: tuple[float, float]  # length of one sequence, drawn uniformly
    max_actions: int  # actions per sequence: 1 + Binomial(max_actions - 1, 0.3)

    def datasets_of(self, role: str) -> tuple[str, ...]:
        """Names of the datasets with ``role`` ("train", "val" or "images")."""
        return tuple(d.name for d in self.datasets if d.role == role)

    @property
    def val_datasets(self) -> tuple[str, ...]:
        """What to pass to ``prepare_amass --val-datasets``."""
        return self.datasets_of("val")

    def scaled(self, factor: float) -> CorpusSize:
        """This size with every dataset's subject count times ``factor`` (rounded, at least 1)."""
        if not factor > 0:
            raise DemoAssetsError(f"--scale must be a positive number, got {factor}")
        return replace(self, datasets=tuple(replace(d, subjects=max(1, round(d.subjects * factor)))
                                            for d in self.datasets))  # fmt: skip


# After tools/prepare_amass.py at 30 fps (with its default 2-degree pose filter): about 50k training samples from
# 52 subjects (364 sequences of 4-10 s) and 6k validation samples from 6 held-out subjects; plus 56 motions by 8 more
# subjects at Human3.6M's 50 fps for the image sets (make_demo_tsv deals them over its 5 subjects).
STUDY = CorpusSize(
    name="study",
    datasets=(
        MocapDataset("StudyMocapA", 120.0, 16, "train", "A"),
        MocapDataset("StudyMocapB", 100.0, 16, "train", "B"),
        MocapDataset("StudyMocapC", 60.0, 20, "train", "C"),
        MocapDataset("StudyHeldOut", 60.0, 6, "val", "V"),
        MocapDataset("StudyH36M", 50.0, 8, "images", "H"),
    ),
    sequences_per_subject=7,
    seconds=(4.0, 10.0),
    max_actions=3,
)
SIZES = ("demo", "study")
_STUDY_STREAM = 16  # first word of the study corpus's seed sequences (the demo's are [seed, dataset, subject])


@dataclass(frozen=True)
class DemoAssets:
    """Where the generated demo files are."""

    root: Path
    smpl_dir: Path  # root/body_models/smpl, holding SMPL_{NEUTRAL,MALE,FEMALE}.pkl
    h36m_regressor: Path  # root/body_models/J_regressor_h36m_correct.npy
    amass_dir: Path  # root/amass

    @classmethod
    def at(cls, root: str | Path) -> DemoAssets:
        root = Path(root)
        return cls(root, root / "body_models" / "smpl", root / "body_models" / "J_regressor_h36m_correct.npy",
                   root / "amass")  # fmt: skip

    @property
    def image_motions_dir(self) -> Path:
        """root/image_motions: a study corpus's motions for image sets, held out of pre-training."""
        return self.root / ROLE_FOLDERS["images"]

    def image_assets(self) -> DemoAssets:
        """These assets with ``amass_dir`` = image_motions/: what tools/standin/make_tsv.py renders a study corpus's
        image sets from, so that no image shows a motion pre-training saw."""
        if not self.image_motions_dir.is_dir():
            raise DemoAssetsError(f"{self.image_motions_dir} does not exist: only the study size has image-set "
                                  f"motions; run tools/standin/make_assets.py --out {self.root} --size study")
        return replace(self, amass_dir=self.image_motions_dir)


def resolve_size(size: str | CorpusSize, scale: float = 1.0) -> CorpusSize | None:
    """The corpus of a size name or :class:`CorpusSize` at ``scale``; None for the demo size (fixed layout)."""
    if isinstance(size, CorpusSize):
        return size if scale == 1.0 else size.scaled(scale)
    if size == "demo":
        if scale != 1.0:
            raise DemoAssetsError("--scale applies to the study size only; the demo size is fixed")
        return None
    if size == "study":
        return STUDY.scaled(scale)
    raise DemoAssetsError(f"unknown corpus size {size!r}; use one of {SIZES}")


def _amass_arrays(seq: dict[str, np.ndarray], betas: np.ndarray, gender: str, framerate: float) -> dict:
    """The arrays of one AMASS sequence file, in the sample file's key order."""
    return {"poses": seq["poses"], "trans": seq["trans"], "betas": betas, "gender": np.array(gender),
            "mocap_framerate": np.array(framerate, dtype=np.float64), "dmpls": seq["dmpls"]}  # fmt: skip


def _demo_files(seed: int) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """The demo size's AMASS files as (path under the root, arrays), in a fixed order."""
    subject_no = 0
    for d, (dataset, framerate, subjects) in enumerate(AMASS_LAYOUT):
        for s, (subject, gender) in enumerate(subjects):
            rng = np.random.default_rng([seed, d, s])
            betas = np.concatenate([rng.normal(0.0, 0.7, 10).clip(-2, 2), rng.normal(0.0, 0.2, 6)])
            yield f"amass/{dataset}/{subject}/shape.npz", {"betas": betas, "gender": np.array(gender)}
            for k in range(SEQUENCES_PER_SUBJECT):
                kind = MOTION_KINDS[(subject_no * SEQUENCES_PER_SUBJECT + k) % len(MOTION_KINDS)]
                n = int(rng.integers(FRAMES_RANGE[0], FRAMES_RANGE[1] + 1))
                seq = make_sequence(kind, n, framerate, rng)
                yield f"amass/{dataset}/{subject}/{kind}_{k + 1:02d}_poses.npz", _amass_arrays(seq, betas, gender,
                                                                                                framerate)  # fmt: skip
            subject_no += 1


def _study_actions(size: CorpusSize, d: int, s: int, k: int, rng: np.random.Generator) -> tuple[list[str], list]:
    """The actions of sequence ``k`` of subject ``s`` of dataset ``d`` and how many seconds each lasts.

    The first action is dealt in turn: each subject leads its sequences with ``sequences_per_subject`` different
    actions, starting where the previous subject stopped (each dataset starts 5 further on), so every action leads
    about as many sequences; the others are drawn, each unlike the one before.
    """
    first = STUDY_KINDS[(5 * d + s * size.sequences_per_subject + k) % len(STUDY_KINDS)]
    total = rng.uniform(*size.seconds)
    count = min(1 + int(rng.binomial(size.max_actions - 1, 0.3)), max(1, int(total // 2.5)))
    kinds = [first]
    while len(kinds) < count:
        kinds.append(str(rng.choice([a for a in STUDY_KINDS if a != kinds[-1]])))
    share = rng.uniform(1.0, 2.0, count)
    return kinds, (total * share / share.sum()).tolist()


def _study_files(seed: int, size: CorpusSize, body: DemoBody) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """A study corpus's AMASS files as (path under the root, arrays). Each subject and each sequence draws from
    its own seed sequence (seed, dataset, subject[, sequence]), so a corpus with more subjects or sequences keeps
    every file of a smaller one."""
    for d, ds in enumerate(size.datasets):
        for s in range(ds.subjects):
            rng = np.random.default_rng([_STUDY_STREAM, seed, d, s])
            gender = str(rng.choice(["male", "female", "neutral"], p=[0.45, 0.45, 0.1]))
            betas = np.concatenate([rng.normal(0.0, 0.9, 10).clip(-2, 2), rng.normal(0.0, 0.3, 6)])
            style = Style(tempo=rng.uniform(0.85, 1.15), amplitude=rng.uniform(0.85, 1.1),
                          hand=int(rng.random() < 0.85))  # fmt: skip
            skeleton = subject_skeleton(body, gender, betas)
            folder = f"{ROLE_FOLDERS[ds.role]}/{ds.name}/{ds.prefix}{s + 1:03d}"
            yield f"{folder}/shape.npz", {"betas": betas, "gender": np.array(gender)}
            for k in range(size.sequences_per_subject):
                seq_rng = np.random.default_rng([_STUDY_STREAM, seed, d, s, k])
                kinds, seconds = _study_actions(size, d, s, k, seq_rng)
                seq_style = replace(style, tempo=style.tempo * seq_rng.uniform(0.93, 1.07))
                seq = make_study_sequence(kinds, seconds, ds.framerate, seq_rng, seq_style, skeleton)
                yield f"{folder}/{'-'.join(kinds)}_{k + 1:02d}_poses.npz", _amass_arrays(seq, betas, gender,
                                                                                          ds.framerate)  # fmt: skip


def motion_files(seed: int, size: CorpusSize | None, body: DemoBody) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """Every motion file of a corpus (``size`` None = the demo) as (path under the root, arrays), one at a time."""
    return _demo_files(seed) if size is None else _study_files(seed, size, body)


# ----------------------------------------------------------------------------------------------------------------
# Writing


def _read_manifest(root: Path) -> dict | None:
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _size_record(size: CorpusSize | None) -> dict | None:
    """What the manifest records about the corpus size (as JSON reads it back); None for the demo size, whose
    manifest keeps the layout of version 1 so that demo folders made before stay current."""
    return None if size is None else json.loads(json.dumps({"study_version": STUDY_VERSION, **asdict(size)}))


def _is_current(manifest: dict | None, root: Path, seed: int, size: dict | None = None) -> bool:
    """True when the manifest is for this seed, generator version and size record (:func:`_size_record`) and every
    file it lists is present."""
    if not manifest or manifest.get("seed") != seed or manifest.get("version") != GENERATOR_VERSION:
        return False
    if manifest.get("size") != size:
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return False
    for entry in files:
        try:
            path = root / entry["path"]
            if not path.is_file() or path.stat().st_size != entry["bytes"]:
                return False
        except (KeyError, TypeError):
            return False
    return True


def _remove_stale(root: Path, old: dict | None, keep: set[str]) -> None:
    """Delete files an earlier manifest listed that this run did not write (e.g. from another version)."""
    entries = (old or {}).get("files")
    for entry in entries if isinstance(entries, list) else []:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or rel in keep:
            continue
        path = (root / rel).resolve()
        if root.resolve() in path.parents and path.is_file():
            path.unlink()


def make_demo_assets(out_dir: str | Path, seed: int = 0, force: bool = False, verbose: bool = False,
                     size: str | CorpusSize = "demo", scale: float = 1.0) -> DemoAssets:  # fmt: skip
    """Write the demo assets with a corpus of ``size`` ("demo", "study" or a :class:`CorpusSize`) at ``scale``
    under ``out_dir`` (idempotent: nothing is rewritten if the manifest is current).

    Each file goes to a temporary name and is renamed into place; the manifest ``demo_assets.json`` (seed,
    generator version, size, path / bytes / sha256 per file) is written last, so an interrupted run is redone next
    time.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DemoAssetsError(f"seed must be a non-negative integer, got {seed!r}.")
    corpus = resolve_size(size, scale)
    record = _size_record(corpus)
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise DemoAssetsError(f"{root} exists and is not a folder; pass a folder for the demo assets (--out).")
    assets = DemoAssets.at(root)
    old = _read_manifest(root)
    if not force and _is_current(old, root, seed, record):
        if verbose:
            print(f"{root / MANIFEST_NAME}: demo assets for seed {seed} ({_describe(corpus)}) are up to date "
                  "(use --force to rebuild)")
        return assets
    root.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []
    body = build_demo_body()
    for gender in GENDERS:
        path = assets.smpl_dir / f"SMPL_{gender.upper()}.pkl"
        save_smpl_pickle(body.smpl_dict(gender), path)  # protocol 2, like the official files
        written.append(path)
    with atomic_path(assets.h36m_regressor) as tmp:
        np.save(tmp, body.h36m_regressor)
    written.append(assets.h36m_regressor)
    for rel, arrays in motion_files(seed, corpus, body):
        path = root / rel
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        written.append(path)

    entries = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
               for p in written]  # fmt: skip
    _remove_stale(root, old, {e["path"] for e in entries})
    manifest = {"generator": "tools/standin/make_assets.py", "version": GENERATOR_VERSION, "seed": seed,
                **({} if record is None else {"size": record}), "files": entries}  # fmt: skip
    write_json_atomic(root / MANIFEST_NAME, manifest)
    if verbose:
        if len(entries) <= 40:
            for e in entries:
                print(f"wrote {root / e['path']} ({e['bytes'] / 1e6:.2f} MB)")
        else:
            print(f"wrote {len(entries)} files ({sum(e['bytes'] for e in entries) / 1e6:.0f} MB) under {root}")
        print(f"wrote {root / MANIFEST_NAME}")
    return assets


def _describe(corpus: CorpusSize | None) -> str:
    if corpus is None:
        return "demo size"
    return f"{corpus.name} size, " + ", ".join(f"{d.name} {d.subjects} subjects" for d in corpus.datasets)


def body_model(smpl: str | None, regressor: str | None, assets: str | Path) -> BodyModel:
    """The real SMPL model and Human3.6M regressor when ``smpl`` is given, else the demo body generated into (or
    reused from) ``assets``: the body of the tools' and benchmarks' ``--smpl`` / ``--regressor`` / ``--assets``."""
    if smpl:
        if not regressor:
            raise SystemExit("--smpl needs --regressor (the 17x6890 J_regressor_h36m_correct.npy)")
        return BodyModel(smpl, regressor)
    made = make_demo_assets(assets, seed=0)
    return BodyModel(made.smpl_dir, made.h36m_regressor)


def corpus_summary(root: str | Path) -> dict[str, dict[str, float]]:
    """Per top folder and dataset of the motions under ``root`` (e.g. "amass/StudyHeldOut"): subjects, sequences,
    frames and seconds, read from the files the manifest lists."""
    manifest = _read_manifest(Path(root))
    if manifest is None:
        raise DemoAssetsError(f"{Path(root) / MANIFEST_NAME} is missing or unreadable; run tools/standin/make_assets.py "
                              f"--out {root}")
    rows: dict[str, dict[str, float]] = {}
    subjects: dict[str, set[str]] = {}
    for entry in manifest["files"]:
        rel = Path(entry["path"])
        if rel.parts[0] not in ROLE_FOLDERS.values() or not rel.name.endswith("_poses.npz"):
            continue
        with np.load(Path(root) / rel) as z:
            frames, rate = z["poses"].shape[0], float(z["mocap_framerate"])
        key = f"{rel.parts[0]}/{rel.parts[1]}"
        subjects.setdefault(key, set()).add(rel.parts[2])
        row = rows.setdefault(key, {"subjects": 0, "sequences": 0, "frames": 0, "seconds": 0.0})
        row["subjects"] = len(subjects[key])
        row["sequences"] += 1
        row["frames"] += frames
        row["seconds"] += frames / rate
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the demo assets into (e.g. data/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the motions (default 0)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the manifest says up to date")
    parser.add_argument("--size", choices=SIZES, default="demo",
                        help="motion corpus: demo (10 short motions, the default) or study (see the module doc)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="study size only: multiply every dataset's subject count (e.g. 0.1, 10)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        corpus = resolve_size(args.size, args.scale)
        assets = make_demo_assets(args.out, seed=args.seed, force=args.force, verbose=True, size=args.size,
                                  scale=args.scale)  # fmt: skip
        summary = corpus_summary(assets.root)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, row in summary.items():
        print(f"{name:28s} {row['subjects']:4d} subjects {row['sequences']:5d} sequences {row['frames']:8d} frames "
              f"{row['seconds'] / 60:6.1f} min")  # fmt: skip
    val = ",".join(corpus.val_datasets) if corpus else AMASS_LAYOUT[-1][0]
    print(f"pre-training cache: python tools/prepare_amass.py --amass-root {assets.amass_dir} --out CACHE "
          f"--target-fps 30 --val-datasets {val}")
    if corpus and corpus.datasets_of("images"):
        print(f"image sets: tools.standin.make_tsv.make_demo_tsv(DemoAssets.at({str(assets.root)!r}).image_assets(), OUT)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
