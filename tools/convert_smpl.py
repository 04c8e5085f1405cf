"""Convert official SMPL model files (chumpy pickles) into chumpy-free files.

    python tools/convert_smpl.py basicModel_neutral_lbs_10_207_0_v1.0.0.pkl --out data/body_models/smpl/SMPL_NEUTRAL.npz

``.npz`` output (default) is read by mpt without pickle; ``--out ....pkl`` writes a plain-numpy pickle that stock
``smplx.create`` also reads. The input is validated key by key first, so a wrong file fails with its name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mpt.body.smpl_file import (
    SmplFileError,
    load_smpl_file,
    save_smpl_npz,
    save_smpl_pickle,
)


def convert_smpl(src: str | Path, out: str | Path) -> Path:
    """Read ``src`` (any SMPL file mpt reads) and write it to ``out`` (.npz or .pkl) as plain numpy."""
    out = Path(out)
    data = load_smpl_file(src)
    if out.suffix == ".npz":
        return save_smpl_npz(data, out)
    if out.suffix == ".pkl":
        return save_smpl_pickle(data, out)
    raise ValueError(f"{out}: output must end in .npz or .pkl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="SMPL .pkl (chumpy or plain) or .npz")
    parser.add_argument("--out", required=True, help="output file, .npz or .pkl")
    args = parser.parse_args(argv)
    try:
        path = convert_smpl(args.src, args.out)
    except (SmplFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
