"""The user's own data files: ``.npz`` (arrays ``x`` and ``y``) and ``.csv`` (a header row, numeric cells, one
label column), read under the rules of ``runtime.input_files`` — regular files only, never blocking, within the
data budget — and refused with a ``DataError`` that names the file and what is wrong.

- ``.npz``: read by ``runtime.safe_npz.read_npz`` (directory, headers and sizes checked before anything is
  decompressed; CRC checked; pickle refused). Arrays other than ``x`` and ``y`` are ignored, unread.
- ``.csv``: at most a quarter of the data budget (a two-character cell such as ``1,`` becomes an 8-byte
  number); UTF-8 (a byte-order mark is accepted); cells of at most ``csv.field_size_limit()`` characters
  (131,072); every row as long as the header; every cell a number. The first bad cell is named by line and
  column. ``np.loadtxt`` reads a good file fast; anything it cannot judge is read again by the csv module.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from array import array
from pathlib import Path

import numpy as np

from runtime.input_files import (InputFileError, budget_hint, check_regular_file, data_budget, describe_bytes,
                                  open_input)
from runtime.safe_npz import read_npz
from spec_lang.printable import printable
from spec_lang.diagnostics import did_you_mean

CSV_SHARE = 4  # a CSV file may be 1/CSV_SHARE of the data budget


class DataFileError(Exception):
    """A data file that cannot be read; ``str(error)`` is the whole message. ``runtime.data`` turns it into a
    ``DataError``."""


def read_data_file(path_text: str, label: str, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from the user's file ``path_text`` (relative paths against ``base_dir``; ``~`` expanded), ``y``
    from the column ``label`` of a CSV. Raises ``DataFileError``."""
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    shown = f"data file '{path_text}'"
    try:
        if not os.path.lexists(path):
            where = "" if Path(path_text).is_absolute() else f" (looked for {path})"
            raise DataFileError(f"{shown} does not exist{where}")
        check_regular_file(path, shown)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            arrays = read_npz(path, shown=shown, names=("x", "y"), budget=data_budget())
            return arrays["x"], arrays["y"]
        if suffix == ".csv":
            return read_csv(path, shown, label)
    except InputFileError as exc:
        raise DataFileError(str(exc)) from None
    raise DataFileError(f"{shown} must be .npz (arrays x and y) or .csv (with a header row)")


def read_named_arrays(kind: str, path_text: str, names, base_dir: Path) -> dict[str, np.ndarray]:
    """``{name: array}`` for each of ``names``: arrays of an ``npz`` archive, or columns (float64, shape (N,)) of
    a ``csv`` file, under the rules of the module. Raises ``DataFileError`` naming a missing array/column."""
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    shown = f"data file '{path_text}'"
    names = list(names)
    try:
        if not os.path.lexists(path):
            where = "" if Path(path_text).is_absolute() else f" (looked for {path})"
            raise DataFileError(f"{shown} does not exist{where}")
        check_regular_file(path, shown)
        if kind == "npz":
            return read_npz(path, shown=shown, names=names, budget=data_budget())
        budget = data_budget()
        max_bytes = budget // CSV_SHARE
        limit = f"the CSV limit of {describe_bytes(max_bytes)}, a quarter of {budget_hint(budget)}"
        with open_input(path, shown, max_bytes=max_bytes, limit=limit) as raw:
            header, table = _read_table(raw, shown, names[0], fast=True, feature_columns=False)
            if table is None:
                raw.seek(0)
                header, table = _read_table(raw, shown, names[0], fast=False, feature_columns=False)
    except InputFileError as exc:
        raise DataFileError(str(exc)) from None
    for name in names:
        if name not in header:
            hint = did_you_mean(name, header)
            raise DataFileError(f"{shown} has no column '{_clip(name)}' (columns: {_columns(header)})"
                                + (f"; {hint}" if hint else ""))
        if header.count(name) > 1:
            raise DataFileError(f"{shown} names the column '{_clip(name)}' {header.count(name)} times")
    return {name: table[:, header.index(name)].copy() for name in names}


def read_csv(path: Path, shown: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a CSV file (module docstring): every column but ``label`` is a feature, in file order.

    Read once by ``np.loadtxt`` (fast, in C); when that fails or finds a value that is not finite (a 200 KB
    cell of digits parses as inf), read again by the csv module, which names the line and column at fault."""
    budget = data_budget()
    max_bytes = budget // CSV_SHARE
    limit = f"the CSV limit of {describe_bytes(max_bytes)}, a quarter of {budget_hint(budget)}"
    with open_input(path, shown, max_bytes=max_bytes, limit=limit) as raw:
        header, table = _read_table(raw, shown, label, fast=True)
        if table is None:
            raw.seek(0)
            header, table = _read_table(raw, shown, label, fast=False)
    col = header.index(label)
    return np.delete(table, col, axis=1), table[:, col].copy()


def _read_table(raw, shown: str, label: str, *, fast: bool,
                feature_columns: bool = True) -> tuple[list[str], np.ndarray | None]:
    """(header, cells as float64 rows) from the start of ``raw``; with ``fast``, cells None when ``np.loadtxt``
    cannot judge them. ``raw`` stays open. ``feature_columns``: the file has a ``label`` column and others
    (checked here; False: the caller checks the columns it names)."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = _header(reader, shown, label, check_label=feature_columns)
        if fast:
            return header, _loadtxt(text, len(header))
        values, rows = _cells(reader, shown, header)
        return header, np.frombuffer(values, dtype=np.float64).reshape(rows, len(header))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataFileError(f"{shown} line {reader.line_num}: a cell is longer than "
                                f"{csv.field_size_limit():,} characters; cells must be numbers") from None
        raise DataFileError(f"{shown} line {reader.line_num} is not valid CSV ({exc})") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{shown} is not UTF-8 text (near line {reader.line_num + 1})") from None
    except OSError as exc:
        raise DataFileError(f"{shown} cannot be read ({exc.strerror or exc})") from None
    finally:
        text.detach()


def _loadtxt(text, columns: int) -> np.ndarray | None:
    """The rest of ``text`` as a float64 table of ``columns`` finite values per row, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (e.g. "input contained no data") instead of failing
            values = np.loadtxt(text, delimiter=",", ndmin=2, dtype=np.float64, quotechar='"', comments=None)
    except (ValueError, UnicodeError, Warning):
        return None
    if values.shape[1] != columns or not np.isfinite(values).all():
        return None
    return values


def _header(reader, shown: str, label: str, check_label: bool = True) -> list[str]:
    header = next((row for row in reader if row), None)
    if header is None:
        raise DataFileError(f"{shown} is empty; a CSV file needs a header row naming its columns")
    header = [cell.strip() for cell in header]
    if all(_is_number(cell) for cell in header):
        raise DataFileError(f"{shown} has no header row (its first row is numbers); add a row naming the columns, "
                            f"one of them '{_clip(label)}'")
    if not check_label:
        return header
    if label not in header:
        hint = did_you_mean(label, header)
        raise DataFileError(f"{shown} has no column '{label}' (columns: {_columns(header)})"
                            + (f"; {hint}" if hint else ""))
    if header.count(label) > 1:
        raise DataFileError(f"{shown} names the column '{label}' {header.count(label)} times")
    if len(header) == 1:
        raise DataFileError(f"{shown} has only the label column '{label}'; it needs feature columns")
    return header


def _cells(reader, shown: str, header: list[str]) -> tuple[array, int]:
    """Every cell after the header as float64, row after row (blank rows skipped), and the row count."""
    values = array("d")
    rows = 0
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataFileError(f"{shown} line {reader.line_num} has {len(row)} cells but the header names "
                                f"{len(header)} columns")
        try:
            values.extend(map(float, row))
        except ValueError:
            name, cell = next((n, c) for n, c in zip(header, row) if not _is_number(c))
            what = "is empty" if not cell.strip() else f"'{_clip(cell.strip())}' is not a number"
            raise DataFileError(f"{shown} line {reader.line_num}, column '{_clip(name)}': {what}") from None
        rows += 1
    return values, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _columns(header: list[str], shown: int = 12) -> str:
    """The header's names for a message: the first ``shown``, each clipped, then how many there are."""
    names = ", ".join(_clip(name) for name in header[:shown])
    return names + (f", … ({len(header)} columns)" if len(header) > shown else "")


def _clip(text: str, width: int = 40) -> str:
    """``text`` for a message (``spec_lang.printable``): at most ``width`` characters."""
    return printable(text, width)


__all__ = ["CSV_SHARE", "DataFileError", "read_csv", "read_data_file", "read_named_arrays"]
