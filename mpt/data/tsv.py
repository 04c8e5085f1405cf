"""METRO-style TSV files: one record per line, tab-separated columns, random access through a ``.lineidx``.

Format (microsoft/MeshTransformer metro/utils/tsv_file.py and metro/utils/tsv_file_ops.py ``tsv_writer``):
  - ``<stem>.tsv``: UTF-8 text, one row per ``\\n``-terminated line, columns joined by ``\\t``;
  - ``<stem>.lineidx`` beside it (METRO names it ``os.path.splitext(tsv)[0] + '.lineidx'``, so
    ``train.img.tsv`` -> ``train.img.lineidx``): one decimal byte offset per line, the start of each row.
Rows are read lazily: each process opens its own file handle on first use (so a dataset holding a
:class:`TSVFile` can be pickled into DataLoader workers) and seeks straight to the requested row.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mpt.atomic import atomic_path, write_text_atomic
from mpt.errors import MptError

__all__ = ["TSVError", "TSVFile", "build_lineidx", "lineidx_path", "write_tsv"]

_CHUNK = 1 << 22  # bytes read at a time while indexing a file


class TSVError(MptError):
    """A TSV or .lineidx file is missing, damaged or inconsistent; the message names the file (and row)."""


def lineidx_path(tsv_path: str | os.PathLike[str]) -> Path:
    """The ``.lineidx`` beside a TSV, named as METRO names it: ``a/train.img.tsv`` -> ``a/train.img.lineidx``."""
    p = Path(tsv_path)
    return p.with_name(os.path.splitext(p.name)[0] + ".lineidx")


def _line_offsets(path: Path) -> np.ndarray:
    """Byte offsets (int64) of every line start in ``path`` (a final line without ``\\n`` still counts)."""
    starts = [np.zeros(1, dtype=np.int64)]
    pos = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A)  # positions of '\n'
            starts.append(nl.astype(np.int64) + pos + 1)
            pos += len(chunk)
    offsets = np.concatenate(starts)
    return offsets[offsets < pos]  # drop the "start" after the final newline (and the 0 of an empty file)


def build_lineidx(tsv_path: str | os.PathLike[str]) -> Path:
    """(Re)write the ``.lineidx`` of ``tsv_path`` atomically; returns its path."""
    tsv_path = Path(tsv_path)
    if not tsv_path.is_file():
        raise TSVError(f"TSV file {tsv_path} does not exist; cannot build its .lineidx")
    offsets = _line_offsets(tsv_path)
    out = lineidx_path(tsv_path)
    write_text_atomic(out, "".join(f"{o}\n" for o in offsets.tolist()))
    return out


class TSVFile:
    """Lazy random access to the rows of one TSV file.

    ``tsv[k]`` returns row k's columns as a list of strings (each stripped of surrounding whitespace, as
    METRO's reader does). A missing ``.lineidx`` is built once, atomically (several ranks building it at the
    same time write identical files, so the race is harmless).
    """

    def __init__(self, path: str | os.PathLike[str], build_missing_lineidx: bool = True) -> None:
        self.path = Path(path)
        self.lineidx = lineidx_path(self.path)
        if not self.path.is_file():
            raise TSVError(
                f"TSV file {self.path} does not exist; expected a METRO-style TSV "
                f"('name<TAB>column...' rows) with its index {self.lineidx.name} beside it"
            )
        if not self.lineidx.is_file():
            if not build_missing_lineidx:
                raise TSVError(f"{self.lineidx} is missing; build it with mpt.data.tsv.build_lineidx('{self.path}')")
            build_lineidx(self.path)
        self._offsets = self._load_offsets()
        self._fp = None
        self._pid: int | None = None

    def _load_offsets(self) -> np.ndarray:
        fix = f"delete {self.lineidx} to have it rebuilt from {self.path.name}"
        try:
            text = self.lineidx.read_text(encoding="ascii")
            offsets = np.array([int(t) for t in text.split()], dtype=np.int64)
        except (UnicodeDecodeError, ValueError) as e:
            raise TSVError(f"{self.lineidx} is not a list of byte offsets ({e}); {fix}") from None
        size = self.path.stat().st_size
        if len(offsets) == 0:
            if size != 0:
                raise TSVError(f"{self.lineidx} lists no rows but {self.path} has {size} bytes; {fix}")
            return offsets
        if offsets[0] != 0 or bool(np.any(np.diff(offsets) <= 0)) or offsets[-1] >= size:
            raise TSVError(f"{self.lineidx} does not match {self.path} (offsets not increasing or past the end); {fix}")
        with self.path.open("rb") as f:  # the last row must start a line: catches an index of another file
            f.seek(int(offsets[-1]) - 1 if offsets[-1] > 0 else 0)
            if offsets[-1] > 0 and f.read(1) != b"\n":
                raise TSVError(f"{self.lineidx} does not match {self.path} (last offset is not a line start); {fix}")
        return offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def _file(self):
        """This process's handle on the TSV (reopened after a fork, e.g. in a DataLoader worker)."""
        pid = os.getpid()
        if self._fp is None or self._pid != pid:
            self._fp = self.path.open("rb")
            self._pid = pid
        return self._fp

    def _line(self, index: int) -> str:
        n = len(self._offsets)
        if not -n <= index < n:
            raise IndexError(f"row {index} out of range for {self.path} ({n} rows)")
        fp = self._file()
        fp.seek(int(self._offsets[index]))
        raw = fp.readline()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TSVError(f"{self.path} row {index % n} is not valid UTF-8 ({e})") from None

    def __getitem__(self, index: int) -> list[str]:
        """Columns of row ``index`` (negative indices count from the end)."""
        return [c.strip() for c in self._line(index).split("\t")]

    def key(self, index: int) -> str:
        """First column (the image name) of row ``index``."""
        return self._line(index).split("\t", 1)[0].strip()

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
        self._fp = None
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fp"] = None  # file handles do not pickle; each worker opens its own
        state["_pid"] = None
        return state

    def __del__(self) -> None:
        fp = getattr(self, "_fp", None)
        if fp is not None:
            fp.close()

    def __repr__(self) -> str:
        return f"TSVFile('{self.path}', rows={len(self)})"


def _column(value: str | bytes, row: int, path: Path) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    if "\t" in text or "\n" in text or "\r" in text:
        raise ValueError(
            f"write_tsv({path}): row {row} has a column containing a tab or newline; "
            "encode it (base64 / JSON without indentation) first"
        )
    return text


def write_tsv(path: str | os.PathLike[str], rows: Iterable[Sequence[str | bytes]]) -> int:
    """Write ``rows`` (each a sequence of column strings) as a TSV plus its ``.lineidx``; returns the row count.

    Both files are written to temporary names and renamed into place (the TSV first, then its index), so
    an interrupted write leaves no torn file. Bytes columns are decoded as UTF-8, as METRO's writer does.
    """
    path = Path(path)
    count = 0
    offset = 0
    # Exit order: the TSV is renamed into place first, then its index.
    with (
        atomic_path(lineidx_path(path)) as idx_tmp,
        atomic_path(path) as tsv_tmp,
        tsv_tmp.open("wb") as ftsv,
        idx_tmp.open("w", encoding="ascii") as fidx,
    ):
        for row in rows:
            if isinstance(row, (str, bytes)):
                raise TypeError(f"write_tsv({path}): each row must be a sequence of columns, got a single string")
            line = ("\t".join(_column(v, count, path) for v in row) + "\n").encode("utf-8")
            ftsv.write(line)
            fidx.write(f"{offset}\n")
            offset += len(line)
            count += 1
    return count
