"""``read_npz``: the one reader of ``.npz`` archives a user gives nnspec — data files, ``weights.npz``,
``checkpoint.npz`` — that neither hangs, nor exhausts memory, nor runs code, nor shows a traceback.

What it guarantees, in the order it checks (each failure is an ``InputFileError`` naming the file and, where
there is one, the member):

1. The path is a regular file no larger than the data budget (``runtime.input_files``: FIFOs and devices
   are refused without blocking).
2. The zip directory is sane before it is parsed: at most ``MAX_MEMBERS`` members and ``MAX_DIRECTORY_BYTES``
   of central directory (read from the end-of-central-directory record).
3. Every member read is ``<key>.npy``, stored or deflated (no encryption, no other compression), its declared
   sizes consistent (stored: compressed = uncompressed; deflated: no more than deflate's maximum ratio of
   1032:1), and its uncompressed size within the budget — all before a byte is decompressed, so a
   decompression bomb is refused from its directory entry.
4. Each member's ``.npy`` header is parsed (no pickle: an object dtype is refused), and shape × itemsize is
   checked against the budget — for all members together — and against the member's declared size, before
   any array is allocated.
5. The data are read with the CRC-32 checked; a corrupt deflate stream, a CRC mismatch or a truncated
   member is a message, never ``zipfile.BadZipFile`` or ``zlib.error``.

With ``names`` given, only those members are read (others are ignored, unread) and each must be present;
without, every member must be a ``.npy`` array and all are read.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from runtime.input_files import InputFileError, budget_hint, data_budget, describe_bytes, open_input

MAX_MEMBERS = 100_000
MAX_DIRECTORY_BYTES = 64 * 2**20
MAX_DEFLATE_RATIO = 1032  # deflate cannot expand one byte into more than about 1032
MAX_HEADER_BYTES = 10_000  # numpy's own default limit for a .npy header
_NPY_MAGIC = b"\x93NUMPY"


def read_npz(path: Path | str, *, shown: str | None = None, names: Iterable[str] | None = None,
             budget: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path`` as ``{key: array}`` (key = member name without ``.npy``), with
    the module docstring's guarantees. ``names``: read only these keys, each required; ``shown``: how
    messages name the file (default: the path in quotes); ``budget``: bytes (default ``data_budget()``).
    Raises ``InputFileError``."""
    shown = shown or f"'{path}'"
    budget = data_budget() if budget is None else budget
    with open_input(path, shown, max_bytes=budget, limit=budget_hint(budget)) as fh:
        size = _file_size(fh)
        head = fh.read(len(_NPY_MAGIC))
        if head == _NPY_MAGIC:
            raise InputFileError(f"{shown} is a single .npy array, not a .npz archive; save arrays with "
                                 "np.savez(path, x=x, y=y)")
        _check_directory(fh, size, shown)
        try:
            archive = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, struct.error,
                NotImplementedError) as exc:
            what = "truncated, or not a zip file" if head.startswith(b"PK") else "not a zip file"
            raise InputFileError(f"{shown} is not a .npz archive ({what}: {exc})") from None
        with archive:
            members = _select(archive, names, shown)
            headers = {key: _inspect(archive, info, shown, budget) for key, info in members.items()}
            total = sum(nbytes for _, _, _, nbytes in headers.values())
            if total > budget:
                raise InputFileError(f"{shown} holds {describe_bytes(total)} of arrays, over {budget_hint(budget)}")
            return {key: _read_member(archive, members[key], shown) for key in members}


def _file_size(fh) -> int:
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    return size


def _check_directory(fh, size: int, shown: str) -> None:
    """Refuse a central directory too large to parse, from the end-of-central-directory record (zip64 too).
    A file without the record is left to ``zipfile`` to refuse."""
    tail_size = min(size, 22 + 65535)
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    fh.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return
    entries, directory_bytes = struct.unpack_from("<HL", tail, at + 10)
    if (entries == 0xFFFF or directory_bytes == 0xFFFFFFFF) and at >= 20 and tail[at - 20: at - 16] == b"PK\x06\x07":
        record = struct.unpack_from("<Q", tail, at - 12)[0]  # the zip64 end record's offset
        if 0 <= record <= size - 56:
            fh.seek(record)
            zip64 = fh.read(56)
            fh.seek(0)
            if zip64[:4] == b"PK\x06\x06":
                entries, directory_bytes = struct.unpack_from("<QQ", zip64, 32)
    if entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise InputFileError(f"{shown} declares {entries:,} members in a directory of "
                             f"{describe_bytes(directory_bytes)}; nnspec reads at most {MAX_MEMBERS:,} members "
                             f"({describe_bytes(MAX_DIRECTORY_BYTES)} of directory)")


def _select(archive: zipfile.ZipFile, names: Iterable[str] | None, shown: str) -> dict[str, zipfile.ZipInfo]:
    """{key: member} of the members to read, in archive order (``names`` order when given)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise InputFileError(f"{shown} has {len(infos):,} members; nnspec reads at most {MAX_MEMBERS:,}")
    by_key: dict[str, zipfile.ZipInfo] = {}
    others: list[str] = []
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            others.append(info.filename)
            continue
        key = info.filename[: -len(".npy")]
        if key in by_key:
            raise InputFileError(f"{shown} holds the member '{info.filename}' twice; which one is meant is unclear")
        by_key[key] = info
    if names is None:
        if others:
            raise InputFileError(f"{shown}: member '{others[0]}' is not a .npy array; a .npz archive holds only "
                                 ".npy members")
        return by_key
    names = list(names)
    missing = [n for n in names if n not in by_key]
    if missing:
        wanted = " and ".join(f"'{n}'" for n in names)
        found = ", ".join([*by_key, *others]) or "none"
        raise InputFileError(f"{shown} must hold arrays {wanted} (found: {found})")
    return {n: by_key[n] for n in names}


def _inspect(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, budget: int
             ) -> tuple[tuple[int, ...], np.dtype, int, int]:
    """(shape, dtype, header bytes, data bytes) of a member, from its directory entry and its .npy header,
    refusing what the module docstring lists before anything large is read."""
    where = f"{shown}: member '{info.filename}'"
    if info.flag_bits & 0x1:
        raise InputFileError(f"{where} is encrypted; nnspec reads plain .npz archives (np.savez)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InputFileError(f"{where} uses compression method {info.compress_type}; nnspec reads stored or "
                             "deflated members (np.savez, np.savez_compressed)")
    if info.file_size > budget:
        raise InputFileError(f"{where} declares {describe_bytes(info.file_size)} uncompressed, over "
                             f"{budget_hint(budget)}; it was not decompressed")
    stored = info.compress_type == zipfile.ZIP_STORED
    if (stored and info.file_size != info.compress_size) or \
            (not stored and info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024):
        raise InputFileError(f"{where} is corrupt: its directory entry claims {describe_bytes(info.compress_size)} "
                             f"{'stored' if stored else 'compressed'} expand to {describe_bytes(info.file_size)}, "
                             "which is impossible")
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
            else:
                raise ValueError(f"it uses .npy format version {version[0]}.{version[1]}, which nnspec does not read")
            header_bytes = member.tell()
    except (ValueError, TypeError, SyntaxError, EOFError, struct.error) as exc:
        raise InputFileError(f"{where} is not a .npy array ({_first_line(exc)})") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise _corrupt(where, exc) from None
    if dtype.hasobject:
        raise InputFileError(f"{where} holds Python objects (dtype object), which nnspec does not load (that "
                             "would need pickle); save numeric arrays")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise InputFileError(f"{where} is not a .npy array (its header declares the shape {tuple(shape)})")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if max(nbytes, count) > budget:
        raise InputFileError(f"{where} declares an array of shape {tuple(shape)} and dtype {dtype}: "
                             f"{describe_bytes(nbytes)}, over {budget_hint(budget)}")
    if header_bytes + nbytes != info.file_size:
        held = info.file_size - header_bytes
        raise InputFileError(f"{where} is corrupt: its header declares {describe_bytes(nbytes)} of data (shape "
                             f"{tuple(shape)}, dtype {dtype}) but the member holds {describe_bytes(max(held, 0))}")
    return tuple(shape), dtype, header_bytes, nbytes


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> np.ndarray:
    where = f"{shown}: member '{info.filename}'"
    try:
        with archive.open(info) as member:
            array = np.lib.format.read_array(member, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
            if member.read(1):  # sizes were checked: only a lying archive gets here
                raise zipfile.BadZipFile("data beyond the array")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _corrupt(where, exc) from None
    return array


def _corrupt(where: str, exc: Exception) -> InputFileError:
    text = _first_line(exc)
    if "CRC" in text:
        return InputFileError(f"{where} is corrupt: its CRC-32 checksum does not match its data")
    if isinstance(exc, zlib.error):
        return InputFileError(f"{where} is corrupt: its compressed data cannot be decompressed ({text})")
    if isinstance(exc, EOFError) or "ended" in text or "truncated" in text.lower():
        return InputFileError(f"{where} is corrupt: its data end early (the file is truncated)")
    return InputFileError(f"{where} is corrupt ({text})")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["MAX_MEMBERS", "read_npz"]
