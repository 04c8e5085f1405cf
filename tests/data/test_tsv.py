"""TSV reader/writer: offsets against a hand count of bytes, METRO's .lineidx naming, lazy index building, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mpt.data.tsv import TSVError, TSVFile, build_lineidx, lineidx_path, write_tsv

ROWS = [("a.jpg", "AAAA", "x"), ("ünï/b.jpg", '{"k": [1, 2]}', "yy"), ("c.jpg", "", "zzz")]


def test_write_then_read_rows_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "train.img.tsv"
    assert write_tsv(path, ROWS) == 3
    # METRO names the index splitext(tsv) + '.lineidx'.
    assert lineidx_path(path) == tmp_path / "sub" / "train.img.lineidx"
    offsets = [int(v) for v in (tmp_path / "sub" / "train.img.lineidx").read_text().split()]
    expected, pos = [], 0
    for row in ROWS:  # byte offsets counted by hand: UTF-8 length of each line
        expected.append(pos)
        pos += len(("\t".join(row) + "\n").encode("utf-8"))
    assert offsets == expected
    assert path.stat().st_size == pos
    tsv = TSVFile(path)
    assert len(tsv) == 3
    assert tsv[1] == list(ROWS[1])
    assert tsv[2] == ["c.jpg", "", "zzz"]
    assert tsv[-1] == tsv[2]
    assert tsv.key(1) == "ünï/b.jpg"
    with pytest.raises(IndexError, match="row 3 out of range"):
        tsv[3]
    assert not list(path.parent.glob(".*"))  # no temporary files left behind


def test_missing_lineidx_is_built_for_a_hand_written_file(tmp_path: Path) -> None:
    path = tmp_path / "x.label.tsv"
    path.write_bytes(b"r0\t[1]\nrow_one\t[]\r\nlast\t{}")  # CRLF row and no final newline, as hand-made files have
    tsv = TSVFile(path)
    assert (tmp_path / "x.label.lineidx").read_text().split() == ["0", "7", "19"]
    assert [tsv[i] for i in range(3)] == [["r0", "[1]"], ["row_one", "[]"], ["last", "{}"]]
    with pytest.raises(TSVError, match="build_lineidx"):
        (tmp_path / "x.label.lineidx").unlink()
        TSVFile(path, build_missing_lineidx=False)
    assert build_lineidx(path).read_text().split() == ["0", "7", "19"]


def test_empty_file_has_no_rows(tmp_path: Path) -> None:
    assert write_tsv(tmp_path / "e.tsv", []) == 0
    assert len(TSVFile(tmp_path / "e.tsv")) == 0


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(TSVError, match=r"nope\.img\.tsv does not exist"):
        TSVFile(tmp_path / "nope.img.tsv")
    path = tmp_path / "s.img.tsv"
    write_tsv(path, ROWS)
    (tmp_path / "s.img.lineidx").write_text("0\n5\n")  # 5 is inside the first row, not a line start
    with pytest.raises(TSVError, match=r"s\.img\.lineidx does not match"):
        TSVFile(path)
    (tmp_path / "s.img.lineidx").write_text("0\nfoo\n")
    with pytest.raises(TSVError, match=r"s\.img\.lineidx is not a list of byte offsets"):
        TSVFile(path)
    (tmp_path / "s.img.lineidx").write_text("0\n99999\n")
    with pytest.raises(TSVError, match="past the end"):
        TSVFile(path)


def test_write_is_atomic_on_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    write_tsv(path, ROWS)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="row 1 has a column containing a tab"):
        write_tsv(path, [("ok", "1"), ("bad", "a\tb")])
    assert path.read_bytes() == before  # the old file is untouched
    assert TSVFile(path)[0] == list(ROWS[0])
    with pytest.raises(TypeError, match="sequence of columns"):
        write_tsv(tmp_path / "s.tsv", ["just a string"])


class _Rows(Dataset):
    def __init__(self, tsv: TSVFile) -> None:
        self.tsv = tsv

    def __len__(self) -> int:
        return len(self.tsv)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(len(self.tsv[i][2]))


def test_pickles_and_reads_in_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "w.tsv"
    write_tsv(path, ROWS)
    tsv = TSVFile(path)
    assert tsv[0][0] == "a.jpg"  # opens the handle in this process
    clone = pickle.loads(pickle.dumps(tsv))
    assert clone[2] == ["c.jpg", "", "zzz"]
    loader = DataLoader(_Rows(tsv), batch_size=3, num_workers=1)
    assert next(iter(loader)).tolist() == [1, 2, 3]
