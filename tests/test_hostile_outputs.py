"""Hostile output paths, for every command that writes a file: a clear error (exit 2 for a bad path,
74 when the disk fails the write) naming the file, nothing clobbered, no temporary file left — or,
for a device node, a FIFO, a symlink or a 0600 file, the behaviour of any careful Unix tool."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from write_faults import SPEC, denied_creation, error_lines, failing_writes, invoke, snapshot, temporary_files, \
    write_spec

IS_ROOT = os.geteuid() == 0
OLD = b"the previous content\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A spec and a finished run of it (for `report`), shared by every test of this file."""
    base = tmp_path_factory.mktemp("outputs")
    spec = write_spec(base, SPEC.replace("epochs = 3", "epochs = 1"))
    run = base / "run"
    result = invoke("train", spec, "--out", run, "-q")
    assert result.exit_code == 0, result.output
    return spec, run


# command -> its arguments, writing one file to TARGET
FILE_COMMANDS = {
    "compile -o": lambda spec, run, target: ["compile", spec, "-o", target],
    "emit -o": lambda spec, run, target: ["emit", spec, "--backend", "torch", "-o", target],
    "report --plot": lambda spec, run, target: ["report", run, "--plot", target],
    "diagnose --plot": lambda spec, run, target: ["diagnose", spec, "--batches", "1", "--plot", target],
    "lr-find --plot": lambda spec, run, target: ["lr-find", spec, "--steps", "10", "--plot", target],
}


def run_command(command, workspace, target):
    spec, run = workspace
    return invoke(*FILE_COMMANDS[command](spec, run, target))


@pytest.mark.parametrize("command", FILE_COMMANDS)
@pytest.mark.parametrize("place,message", [
    ("missing/out.x", "does not exist"),
    ("a_file/out.x", "a_file is not a directory"),
    ("a_dir", "is a directory"),
])
def test_a_bad_output_path_is_refused_before_work_and_nothing_changes(workspace, tmp_path, command, place, message):
    (tmp_path / "a_file").write_bytes(OLD)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir" / "keep").write_bytes(OLD)
    before = snapshot(tmp_path)
    result = run_command(command, workspace, tmp_path / place)
    assert result.exit_code == 2, result.output
    assert error_lines(result.output) == [f"{tmp_path / place}: error: cannot write this file: "
                                          + error_lines(result.output)[0].split("cannot write this file: ")[1]]
    assert message in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", FILE_COMMANDS)
@pytest.mark.parametrize("code,reason,exit_code", [
    pytest.param(errno.EACCES, "Permission denied", 2, id="read-only directory"),
    pytest.param(errno.EROFS, "Read-only file system", 2, id="read-only file system"),
])
def test_an_unwritable_directory_is_an_error_naming_the_file(workspace, tmp_path, monkeypatch, command, code, reason,
                                                             exit_code):
    target = tmp_path / "out.x"
    target.write_bytes(OLD)
    denied_creation(monkeypatch, tmp_path, code)
    result = run_command(command, workspace, target)
    assert result.exit_code == exit_code, result.output
    assert f"{target}: error: cannot write this file: {reason}" in result.output
    assert target.read_bytes() == OLD and temporary_files(tmp_path) == []


@pytest.mark.parametrize("command", FILE_COMMANDS)
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO], ids=errno.errorcode.get)
def test_a_failing_disk_exits_74_and_keeps_the_previous_file(workspace, tmp_path, monkeypatch, command, code):
    target = tmp_path / "out.x"
    target.write_bytes(OLD)
    failing_writes(monkeypatch, tmp_path, code)
    result = run_command(command, workspace, target)
    assert result.exit_code == 74, result.output
    assert f"{target}: error: cannot write this file: {os.strerror(code)}" in result.output
    assert target.read_bytes() == OLD and temporary_files(tmp_path) == []


@pytest.mark.skipif(not IS_ROOT, reason="creating a device node needs root")
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_character_device_is_written_in_place_never_replaced(workspace, tmp_path, command):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # another /dev/null
    result = run_command(command, workspace, null)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_fifo_is_written_in_place_for_its_reader(workspace, tmp_path, command):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_command(command, workspace, fifo)
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and len(received[0]) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_symlink_is_followed_and_stays_a_link(workspace, tmp_path, command):
    real = tmp_path / "real.out"
    real.write_bytes(OLD)
    link = tmp_path / "link.out"
    link.symlink_to("real.out")
    result = run_command(command, workspace, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "real.out"
    assert real.read_bytes() != OLD and len(real.read_bytes()) > 100
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_an_existing_files_permissions_are_kept(workspace, tmp_path, command):
    target = tmp_path / "private.out"
    target.write_bytes(OLD)
    target.chmod(0o600)
    result = run_command(command, workspace, target)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() != OLD


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_new_file_gets_the_usual_permissions_and_a_taken_temporary_name_is_left_alone(workspace, tmp_path, command):
    target = tmp_path / "new.out"
    taken = [tmp_path / n for n in ("new.out.tmp", ".new.out.tmp", "new.out.fmt.tmp")]
    for path in taken:
        path.mkdir()
    umask = os.umask(0o022)
    try:
        result = run_command(command, workspace, target)
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert all(p.is_dir() and not any(p.iterdir()) for p in taken)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["new.out", *(p.name for p in taken)])


# ---- fmt: rewrites the spec itself ------------------------------------------------------------------

UNFORMATTED = "model  m {\n Input([4])\n Dense(3)\n}\n"
FORMATTED = "model m {\n    Input([4])\n    Dense(3)\n}\n"


def test_fmt_on_a_symlink_formats_the_target_and_keeps_the_link(tmp_path):
    real = write_spec(tmp_path, UNFORMATTED, "real.nns")
    link = tmp_path / "link.nns"
    link.symlink_to("real.nns")
    result = invoke("fmt", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text() == FORMATTED


def test_fmt_keeps_a_private_files_mode(tmp_path):
    spec = write_spec(tmp_path, UNFORMATTED)
    spec.chmod(0o600)
    assert invoke("fmt", spec).exit_code == 0
    assert stat.S_IMODE(spec.stat().st_mode) == 0o600 and spec.read_text() == FORMATTED


def test_fmt_with_its_old_temporary_names_taken(tmp_path):
    spec = write_spec(tmp_path, UNFORMATTED)
    for name in ("m.nns.fmt.tmp", "m.nns.tmp", ".m.nns.tmp"):
        (tmp_path / name).mkdir()
    result = invoke("fmt", spec)
    assert result.exit_code == 0, result.output
    assert spec.read_text() == FORMATTED
    assert all((tmp_path / n).is_dir() for n in ("m.nns.fmt.tmp", "m.nns.tmp", ".m.nns.tmp"))


@pytest.mark.parametrize("code,exit_code", [(errno.EACCES, 2), (errno.EROFS, 2), (errno.ENOSPC, 74),
                                            (errno.EFBIG, 74)], ids=["EACCES", "EROFS", "ENOSPC", "EFBIG"])
def test_fmt_that_cannot_write_leaves_the_spec_and_goes_on(tmp_path, monkeypatch, code, exit_code):
    locked = tmp_path / "locked"
    locked.mkdir()
    spec = write_spec(locked, UNFORMATTED)
    other = write_spec(tmp_path, UNFORMATTED, "other.nns")
    if code in (errno.EACCES, errno.EROFS):
        denied_creation(monkeypatch, locked, code)
    else:
        failing_writes(monkeypatch, locked, code)
    result = invoke("fmt", spec, other)
    assert result.exit_code == exit_code, result.output
    assert f"{spec}: error: cannot write this file: {os.strerror(code)}" in result.output
    assert spec.read_text() == UNFORMATTED and temporary_files(locked) == []
    assert other.read_text() == FORMATTED  # the other file was still formatted


@pytest.mark.skipif(IS_ROOT, reason="permissions do not stop root; simulated above")
def test_fmt_in_a_really_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    spec = write_spec(locked, UNFORMATTED)
    locked.chmod(0o555)
    try:
        result = invoke("fmt", spec)
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2 and "Permission denied" in result.output
    assert spec.read_text() == UNFORMATTED


# ---- run directories: train --out, equiv --out ----------------------------------------------------

DIR_COMMANDS = {
    "train --out": lambda spec, out: ["train", spec, "--out", out, "--epochs", "1", "-q"],
    "equiv --out": lambda spec, out: ["equiv", spec, "--backends", "numpy", "--steps", "2", "--out", out],
}


@pytest.mark.parametrize("command", DIR_COMMANDS)
@pytest.mark.parametrize("place,message", [
    ("a_file", "not a directory"),
    ("a_file/run", "a_file is not a directory"),
    ("/dev/null", "not a directory"),
    ("full", "is not empty"),
])
def test_a_bad_run_directory_is_refused_and_nothing_changes(workspace, tmp_path, command, place, message):
    spec, _ = workspace
    (tmp_path / "a_file").write_bytes(OLD)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_bytes(OLD)
    before = snapshot(tmp_path)
    out = Path(place) if place.startswith("/") else tmp_path / place
    result = invoke(*DIR_COMMANDS[command](spec, out))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(error_lines(result.output)) == 1
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert snapshot(tmp_path) == before
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("command", DIR_COMMANDS)
@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS], ids=errno.errorcode.get)
def test_a_run_directory_in_an_unwritable_place_is_refused(workspace, tmp_path, monkeypatch, command, code):
    spec, _ = workspace
    denied_creation(monkeypatch, tmp_path, code)
    result = invoke(*DIR_COMMANDS[command](spec, tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert os.strerror(code) in result.output and str(tmp_path / "run") in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", DIR_COMMANDS)
def test_a_run_directory_is_created_with_its_parents(workspace, tmp_path, command):
    spec, _ = workspace
    out = tmp_path / "a" / "b" / "run"
    result = invoke(*DIR_COMMANDS[command](spec, out))
    assert result.exit_code == 0, result.output
    assert out.is_dir() and temporary_files(out) == []
