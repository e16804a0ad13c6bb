"""Hostile data files for the tests, built in a directory: each a way a .npz or .csv can be broken or malicious.

``build_hostile(directory)`` writes every variant and returns ``{variant: file name}``; ``EXPECTED`` says what
the error message must mention for each. The arrays fit ``SPEC`` (4 features, 3 classes), so a reader that let a
variant through would train on it instead of refusing it. Everything is small and quick to build: the zip bomb
is a real deflate stream of ``BOMB_BYTES`` zeros (about 64 KB on disk), refused under a data budget lowered to
``BOMB_BUDGET`` through the environment. ``hang_guard``, ``run_nnspec`` and ``listing`` run commands on them
and see what they left behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

SPEC = """model m {
    Input([4])
    Dense(3, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam
    batch_size = 4
    epochs = 1
    data = "DATA"
}
"""

BOMB_BYTES = 64 * 2**20
BOMB_BUDGET = "16M"
TIB_116 = 116 * 2**40


def good_arrays(n: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((n, 4)), "y": np.arange(n) % 3}


def npz_bytes(arrays: dict[str, np.ndarray], *, compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A version 1.0 .npy header for ``shape`` (no data), padded to 64 bytes as numpy writes it."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    total = 10 + len(text) + 1
    text += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def _zip(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _y_member() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, good_arrays()["y"])
    return buffer.getvalue()


def truncated() -> bytes:
    data = npz_bytes(good_arrays())
    return data[: len(data) // 2]


def flipped_crc() -> bytes:
    """A stored archive with one byte of x's data changed: the member's CRC-32 no longer matches."""
    data = bytearray(npz_bytes(good_arrays()))
    at = data.index(b"\x93NUMPY") + 128 + 8  # inside x's data, after its 128-byte header
    data[at] ^= 0xFF
    return bytes(data)


def corrupt_deflate() -> bytes:
    """A compressed archive whose deflate stream for x starts with a block of the reserved type 3."""
    data = bytearray(npz_bytes(good_arrays(64), compressed=True))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("x.npy")
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)  # the local header's
    start = info.header_offset + 30 + name_length + extra_length
    data[start] = 0b111  # BFINAL=1, BTYPE=11: "invalid block type"
    return bytes(data)


def not_npy_member() -> bytes:
    return _zip({"x.npy": b"this member is not a .npy array at all", "y.npy": _y_member()})


def huge_header() -> bytes:
    """x.npy's header claims a 116 TiB float64 array; the member holds only the header."""
    return _zip({"x.npy": npy_header((TIB_116 // 8 // 4, 4)), "y.npy": _y_member()})


def zip_bomb() -> bytes:
    """x.npy: a consistent header for BOMB_BYTES of float64 zeros, deflated from a stream (never in memory)."""
    header = npy_header((BOMB_BYTES // 8 // 4, 4))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(2**20)
    crc = zlib.crc32(header)
    parts = [compressor.compress(header)]
    for _ in range(BOMB_BYTES // len(chunk)):
        crc = zlib.crc32(chunk, crc)
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    stream = b"".join(parts)
    size = len(header) + BOMB_BYTES
    name = b"x.npy"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                          len(name), 0, 0, 0, 0, 0, 0)
    first = local + name + stream
    y = _y_member()
    y_crc = zlib.crc32(y)
    y_name = b"y.npy"
    y_local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, y_crc, len(y), len(y), len(y_name), 0)
    y_central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, y_crc, len(y), len(y),
                            len(y_name), 0, 0, 0, 0, 0, len(first))
    body = first + y_local + y_name + y
    directory = central + name + y_central + y_name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(directory), len(body), 0)
    return body + directory + end


def long_csv_field(numeric: bool) -> str:
    cell = ("1" if numeric else "x") * 200_000
    return f"a,b,c,d,label\n1,2,3,4,0\n{cell},2,3,4,1\n"


# variant -> (file name, what the message must mention)
EXPECTED = {
    "truncated npz": ("truncated.npz", "not a .npz archive"),
    "flipped CRC": ("crc.npz", "CRC"),
    "corrupt deflate": ("deflate.npz", "cannot be decompressed"),
    "member not .npy": ("notnpy.npz", "not a .npy array"),
    "116 TiB header": ("huge.npz", "116 TiB"),
    "zip bomb": ("bomb.npz", "budget"),
    "FIFO npz": ("fifo.npz", "FIFO"),
    "FIFO csv": ("fifo.csv", "FIFO"),
    "/dev/zero npz": ("zero.npz", "character device"),
    "/dev/zero csv": ("zero.csv", "character device"),
    "200 KB numeric CSV field": ("long_number.csv", "longer than"),
    "200 KB text CSV field": ("long_text.csv", "longer than"),
}


def build_hostile(directory: Path) -> dict[str, str]:
    """Write every variant of ``EXPECTED`` into ``directory``; {variant: file name}."""
    directory.mkdir(parents=True, exist_ok=True)
    writers = {
        "truncated npz": truncated, "flipped CRC": flipped_crc, "corrupt deflate": corrupt_deflate,
        "member not .npy": not_npy_member, "116 TiB header": huge_header, "zip bomb": zip_bomb,
    }
    for variant, write in writers.items():
        (directory / EXPECTED[variant][0]).write_bytes(write())
    (directory / "long_number.csv").write_text(long_csv_field(numeric=True))
    (directory / "long_text.csv").write_text(long_csv_field(numeric=False))
    for name in ("fifo.npz", "fifo.csv"):
        os.mkfifo(directory / name)
    for name in ("zero.npz", "zero.csv"):
        os.symlink("/dev/zero", directory / name)
    return {variant: name for variant, (name, _) in EXPECTED.items()}


# ---- running commands on them -------------------------------------------------------------------------
HANG_SECONDS = 300  # a hang detector, not a speed assertion: a refusal takes well under a second, but a loaded
# machine (2 cores at load 10) once stretched a 1 s report past the old 20 s; only a real hang takes 300 s
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def hang_guard(seconds: int = HANG_SECONDS):
    """Fail (``TimeoutError``) instead of hanging when the body blocks — e.g. in ``open()`` on a FIFO, which
    SIGALRM interrupts — for longer than ``seconds``. Main thread only."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_nnspec(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``nnspec ARGS`` in a fresh process through the console entry point (so an internal error shows as exit
    70), killed after HANG_SECONDS: a ``subprocess.TimeoutExpired`` means it hung."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("NNSPEC_DEBUG", None)
    return subprocess.run([sys.executable, "-c", "from cli import main; main()", *map(str, args)],
                          cwd=cwd, env=environment, capture_output=True, text=True, timeout=HANG_SECONDS)


def listing(directory: Path) -> dict[str, int]:
    """{relative path: size} of everything under ``directory`` (FIFOs and links included, not followed)."""
    return {str(p.relative_to(directory)): p.lstat().st_size for p in sorted(directory.rglob("*"))}
