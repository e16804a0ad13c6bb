"""runtime.safe_npz.read_npz and runtime.input_files: what the one reader of user .npz files guarantees —
faithful arrays from np.savez / np.savez_compressed; members, sizes, headers and checksums checked before
anything large is read; only regular files; the data budget and its setting."""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import zipfile

import numpy as np
import pytest

from runtime import safe_npz
from runtime.input_files import (BUDGET_VARIABLE, InputFileError, data_budget, describe_bytes, memory_size,
                                  open_input, parse_bytes, read_input_text)
from runtime.safe_npz import read_npz
from hostile_files import npy_header, npz_bytes, zip_bomb


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def archive(path, members: dict[str, bytes], method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return path


def refusal(path, **kwargs) -> str:
    with pytest.raises(InputFileError) as info:
        read_npz(path, **kwargs)
    return str(info.value)


ARRAYS = {
    "float32": np.arange(12, dtype=np.float32).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "big_endian": np.arange(5, dtype=">i4"),
    "bool": np.array([True, False]),
    "float16": np.linspace(0, 1, 7, dtype=np.float16),
    "empty": np.zeros((0, 3)),
    "scalar": np.array(3.5),
    "text": np.array('{"a": 1}'),
    "layer/kernel": np.ones((2, 2)),
}


@pytest.mark.parametrize("compressed", [False, True])
def test_arrays_come_back_exactly_as_numpy_saved_them(tmp_path, compressed):
    path = tmp_path / "a.npz"
    path.write_bytes(npz_bytes(ARRAYS, compressed=compressed))
    loaded = read_npz(path)
    assert list(loaded) == list(ARRAYS)
    for key, array in ARRAYS.items():
        assert loaded[key].dtype == array.dtype and loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key], array)


def test_named_members_are_read_and_the_others_are_never_decompressed(tmp_path):
    good = zipfile.ZipFile(io.BytesIO(zip_bomb()))  # x.npy: 64 MiB of deflated zeros; y.npy: fine
    path = archive(tmp_path / "a.npz", {"bomb.npy": good.read("x.npy")[:10], "y.npy": good.read("y.npy")})
    assert set(read_npz(path, names=["y"], budget=2**20)) == {"y"}
    assert "must hold arrays 'x' and 'y' (found: bomb, y)" in refusal(path, names=["x", "y"])


def test_every_member_must_be_npy_when_all_are_read(tmp_path):
    path = archive(tmp_path / "a.npz", {"w.npy": npy(np.ones(2)), "notes.txt": b"hello"})
    assert "member 'notes.txt' is not a .npy array" in refusal(path)
    assert set(read_npz(path, names=["w"])) == {"w"}


def test_a_member_twice_is_refused(tmp_path):
    path = tmp_path / "a.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive(path, {"x.npy": npy(np.ones(2))})
        with zipfile.ZipFile(path, "a") as out:
            out.writestr("x.npy", npy(np.zeros(2)))
    assert "holds the member 'x.npy' twice" in refusal(path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "a.npz"
    path.write_bytes(npz_bytes({"x": np.array([1, "a"], dtype=object)}))
    assert "member 'x.npy' holds Python objects (dtype object)" in refusal(path)


def test_a_single_npy_file_is_not_an_archive(tmp_path):
    path = tmp_path / "a.npz"
    path.write_bytes(npy(np.ones(3)))
    assert "is a single .npy array, not a .npz archive" in refusal(path)


def test_sizes_are_checked_against_the_budget_before_reading(tmp_path):
    path = tmp_path / "a.npz"
    path.write_bytes(npz_bytes({"x": np.zeros(2**17)}, compressed=True))  # 1 MiB of zeros, a few KB on disk
    assert "member 'x.npy' declares 1 MiB uncompressed, over the data budget of 512 KiB" in \
        refusal(path, budget=2**19)
    two = tmp_path / "two.npz"
    two.write_bytes(npz_bytes({"a": np.zeros(2**16), "b": np.zeros(2**16)}, compressed=True))
    assert "holds 1 MiB of arrays, over the data budget of 768 KiB" in refusal(two, budget=3 * 2**18)
    assert read_npz(two, budget=2**21)["a"].shape == (2**16,)


def test_a_header_that_disagrees_with_the_member_size_is_corrupt(tmp_path):
    path = archive(tmp_path / "a.npz", {"x.npy": npy_header((10,)) + bytes(8 * 9)})
    assert "header declares 80 bytes of data (shape (10,), dtype float64) but the member holds 72 bytes" in \
        refusal(path)


def test_impossible_directory_sizes_are_refused_before_decompressing(tmp_path):
    data = bytearray(npz_bytes({"x": np.ones(4)}))
    at = data.rindex(b"PK\x01\x02")  # central directory entry: uncompressed size at +24
    struct.pack_into("<L", data, at + 24, 10**6)
    (tmp_path / "a.npz").write_bytes(bytes(data))
    assert "claims 160 bytes stored expand to 977 KiB, which is impossible" in refusal(tmp_path / "a.npz")


def test_encrypted_and_other_compression_methods_are_refused(tmp_path):
    bz = archive(tmp_path / "bz.npz", {"x.npy": npy(np.ones(3))}, zipfile.ZIP_BZIP2)
    assert "uses compression method 12" in refusal(bz)
    data = bytearray(npz_bytes({"x": np.ones(3)}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" flag bit
        at = data.index(signature)
        data[at + offset] |= 1
    (tmp_path / "enc.npz").write_bytes(bytes(data))
    assert "member 'x.npy' is encrypted" in refusal(tmp_path / "enc.npz")


def test_a_directory_of_too_many_members_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    path = archive(tmp_path / "a.npz", {f"m{i}.npy": npy(np.ones(1)) for i in range(5)})
    monkeypatch.setattr(safe_npz, "MAX_MEMBERS", 4)
    assert "declares 5 members" in refusal(path)


# ---- regular files only ------------------------------------------------------------------------------------
def special_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "directory").mkdir()
    os.symlink("/dev/urandom", tmp_path / "urandom")
    server = socket.socket(socket.AF_UNIX)
    server.bind("socket")  # relative to the working directory: socket names are limited to about 100 bytes
    return server, {"fifo": "a FIFO (named pipe), not a regular file", "directory": "is a directory",
                    "urandom": "a character device, not a regular file", "socket": "a socket, not a regular file",
                    "missing": "does not exist"}


def test_only_regular_files_are_opened_and_nothing_blocks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server, kinds = special_files(tmp_path)
    with server:
        for name, words in kinds.items():
            with pytest.raises(InputFileError, match=re.escape(words)):
                open_input(tmp_path / name, f"'{name}'")
            with pytest.raises(InputFileError, match=f"'{name}'"):
                read_npz(tmp_path / name, shown=f"'{name}'")


def test_text_is_utf8_whatever_the_locale_and_within_its_limit(tmp_path):
    (tmp_path / "t.json").write_bytes(b"\xef\xbb\xbf" + "{\"é\": 1}".encode())
    assert read_input_text(tmp_path / "t.json") == '{"é": 1}'
    (tmp_path / "bad.json").write_bytes(b"ab\xffcd")
    with pytest.raises(InputFileError, match=r"is not UTF-8 text \(invalid byte at offset 2\)"):
        read_input_text(tmp_path / "bad.json")
    with pytest.raises(InputFileError, match="is 12 bytes, over the limit of 11 bytes"):
        read_input_text(tmp_path / "t.json", max_bytes=11)


# ---- the budget --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, size", [("1024", 1024), ("512M", 512 * 2**20), ("2G", 2 * 2**30),
                                        ("2 GiB", 2 * 2**30), ("1.5k", 1536), ("1t", 2**40)])
def test_budget_sizes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "-1", "0", "1P", "1e9"])
def test_budget_settings_that_are_not_sizes(text, monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, text)
    with pytest.raises(InputFileError, match=f"{BUDGET_VARIABLE}: expected a size in bytes"):
        data_budget()


def test_default_budget_is_a_quarter_of_memory(monkeypatch):
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    assert data_budget() == memory_size() // 4 > 0
    monkeypatch.setenv(BUDGET_VARIABLE, "3M")
    assert data_budget() == 3 * 2**20


def test_sizes_are_described_for_people():
    assert [describe_bytes(n) for n in (1, 200, 2048, 116 * 2**40, int(5.81 * 2**30))] == \
        ["1 byte", "200 bytes", "2 KiB", "116 TiB", "5.81 GiB"]


def test_a_path_with_a_nul_character_is_a_message(tmp_path):
    with pytest.raises(InputFileError, match="is not a valid path"):
        read_npz(str(tmp_path / "a\0.npz"))


def test_a_header_with_a_negative_dimension_is_not_an_array(tmp_path):
    path = archive(tmp_path / "a.npz", {"x.npy": npy_header((-5, 2))})
    assert "member 'x.npy' is not a .npy array (its header declares the shape (-5, 2))" in refusal(path)
