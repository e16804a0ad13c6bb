"""Hostile spec inputs through the CLI: every command that takes a spec answers each with one clear
error (exit 2) or a success, never a hang, a MemoryError, a traceback or an internal error, and never
writes anything when it refuses.

The variants are what a spec path can be that is not a reasonable spec file (a FIFO, devices, a
directory, a socket, files too large or not UTF-8, text past the token or layer limits, thousands of
errors, nesting too deep); each runs through ``check``, ``fmt``, ``compile`` and ``train`` in-process
(``CliRunner``) under a hang guard. The big inputs are written once per module. The real entry point
and standard input get their own tests, and so does UTF-8 output under ``LC_ALL=C``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.passes.build import MAX_LAYERS
from spec_lang.diagnostics import EXCERPT_WIDTH, MAX_REPORTED
from spec_lang.formatter import format_source
from spec_lang.lexer import MAX_TOKENS
from spec_lang.reading import MAX_SPEC_BYTES
from hostile_files import ROOT, hang_guard

COMMANDS = ("check", "fmt", "compile", "train")
MB = 1 << 20
ERROR_LAYERS = 1500  # layers with two errors each: 3000 errors
SPEC_COMMANDS = ("check", "fmt")  # the big inputs parse the same way for every command: two suffice

runner = CliRunner()


def dense_lines(size: int) -> str:
    """A canonical spec of about ``size`` bytes: Input, then ``Dense(8)`` lines (no errors, no warnings)."""
    head, line = "model m {\n    Input([8])\n", "    Dense(8)\n"
    return head + line * ((size - len(head)) // len(line)) + "}\n"


def fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo.nns")
    return d / "fifo.nns"


def unix_socket(d: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "socket.nns"))
    sock.close()  # the socket file stays
    return d / "socket.nns"


def directory(d: Path) -> Path:
    (d / "folder.nns").mkdir()
    return d / "folder.nns"


def write(d: Path, name: str, data: bytes | str) -> Path:
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return d / name


def sparse(d: Path) -> Path:
    with open(d / "sparse.nns", "wb") as f:  # 8 GiB that take no disk: refused by its size, never read
        f.truncate(8 << 30)
    return d / "sparse.nns"


@dataclass(frozen=True)
class Variant:
    make: Callable[[Path], Path]  # builds the input in a directory (or names one), returns its path
    message: str  # what the error says
    succeeds: frozenset[str] = frozenset()  # commands for which the input is fine
    messages: dict[str, str] = field(default_factory=dict)  # per-command messages, where they differ
    shared: bool = False  # built once per module (big files); read-only for the tests
    commands: tuple[str, ...] = COMMANDS  # the commands it is tried with


VARIANTS = {
    "FIFO": Variant(fifo, "it is a named pipe (FIFO), not a regular file"),
    "/dev/zero": Variant(lambda d: Path("/dev/zero"), "it is a character device, not a regular file"),
    "/dev/urandom": Variant(lambda d: Path("/dev/urandom"), "it is a character device, not a regular file"),
    "directory": Variant(directory, "it is a directory", messages={
        "check": "no spec files (*.nns) in this directory", "fmt": "no spec files (*.nns) in this directory"}),
    "socket": Variant(unix_socket, "it is a socket, not a regular file"),
    "5 MB file": Variant(lambda d: write(d, "5mb.nns", "# " + "x" * (5 * MB) + "\n"),
                         f"spec file is too large: {5 * MB + 3:,} bytes, more than 4 MiB", shared=True),
    "sparse 8 GiB file": Variant(sparse, "spec file is too large: 8,589,934,592 bytes"),
    "invalid UTF-8": Variant(lambda d: write(d, "latin1.nns", b"model m {\n    Input([8])\n    Dense(8)  # caf\xe9\n}\n"),
                             "latin1.nns:3:20: error: spec file is not valid UTF-8: byte 0xe9"),
    "20 MB of tokens": Variant(lambda d: write(d, "tokens.nns", "x " * (10 * MB)), "spec file is too large",
                               shared=True),
    "past the token limit": Variant(lambda d: write(d, "list.nns", "x = [" + "1," * MAX_TOKENS + "]\n"),
                                    f"the spec is too large: more than {MAX_TOKENS:,} tokens", shared=True,
                                    commands=SPEC_COMMANDS),
    "1 MB spec": Variant(lambda d: write(d, "1mb.nns", dense_lines(MB)),  # 80,000 layers, 320,000 tokens
                         f"the spec is too large: more than {MAX_TOKENS:,} tokens", shared=True, commands=SPEC_COMMANDS),
    "20,000 layers": Variant(lambda d: write(d, "layers.nns", dense_lines(2 * MAX_LAYERS * 13)),
                             f"the model expands to more than {MAX_LAYERS:,} layers", succeeds=frozenset({"fmt"}),
                             shared=True),
    "thousands of errors": Variant(
        lambda d: write(d, "errors.nns", "model m {\n    Input([8])\n" + "    Dense(-8, activation=rleu)\n" * ERROR_LAYERS
                        + "}\n"),
        f"... and {2 * ERROR_LAYERS - MAX_REPORTED:,} more errors (only the first {MAX_REPORTED} are shown)",
        succeeds=frozenset({"fmt"}), shared=True),
    "a 1 MB name": Variant(lambda d: write(d, "name.nns", format_source(f"model m {{ Input([8]) Dense(8, activation="
                                                                      f"{'r' * MB}) }}")),
                           "unknown activation 'rrrrrrrr", succeeds=frozenset({"fmt"})),
    "a 1 MB string": Variant(lambda d: write(d, "string.nns", 'x = 1 "' + "s" * MB + '"\n'), 'unexpected string "ssss'),
    "brackets 10,000 deep": Variant(lambda d: write(d, "deep.nns", "x = " + "[" * 10_000 + "]" * 10_000 + "\n"),
                                    "nested too deeply: more than 100 levels"),
    "operators 10,000 long": Variant(lambda d: write(d, "chain.nns", "x = 1" + " + 1" * 10_000 + "\n"),
                                     "nested too deeply: more than 100 levels"),
}


@pytest.fixture(scope="module")
def shared_inputs(tmp_path_factory) -> dict[str, Path]:
    """The big inputs, each written once for the whole module."""
    d = tmp_path_factory.mktemp("big_specs")
    return {name: v.make(d) for name, v in VARIANTS.items() if v.shared}


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """{path: (size, mtime)} of everything under ``directory``, links and special files not followed."""
    return {str(p.relative_to(directory)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(directory.rglob("*"))}


def invoke(command: str, spec: Path, out: Path):
    """Run ``nnspec COMMAND SPEC`` in-process, with the command's output paths under ``out``."""
    extra = {"compile": ["-o", str(out / "ir.json")], "train": ["--out", str(out / "run"), "-q"]}.get(command, [])
    with hang_guard():
        return runner.invoke(app, [command, str(spec), *extra])


@pytest.mark.parametrize("variant, command", [(name, c) for name, v in VARIANTS.items() for c in v.commands])
def test_hostile_spec_gets_a_clear_answer_and_nothing_is_written(variant, command, tmp_path, shared_inputs):
    v = VARIANTS[variant]
    spec = shared_inputs[variant] if v.shared else v.make(tmp_path)
    before_spec = snapshot(spec.parent) if v.shared else None
    before = snapshot(tmp_path)
    result = invoke(command, spec, tmp_path)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output
    if command in v.succeeds:
        assert result.exit_code == EXIT_OK, result.output
    else:
        assert result.exit_code == EXIT_ERRORS, result.output
        assert v.messages.get(command, v.message) in result.stderr
        assert result.stderr.count("\n") < 5 * MAX_REPORTED, "the output is capped, not lines for every error"
        assert max(map(len, result.stderr.splitlines())) < 2 * EXCERPT_WIDTH + len(str(spec)) + 100, \
            "a long source line is cut around the caret"
    assert snapshot(tmp_path) == before, "a refused spec must leave everything as it was"
    if before_spec is not None:
        assert snapshot(spec.parent) == before_spec


@pytest.mark.parametrize("command", ["check", "fmt"])
@pytest.mark.parametrize("data, message", [
    (b"# " + b"x" * (MAX_SPEC_BYTES + 1), "<stdin>: error: standard input is too large: more than 4 MiB"),
    (b"model m {\n  \xff\n}\n", "<stdin>:2:3: error: spec file is not valid UTF-8: byte 0xff"),
])
def test_standard_input_has_the_same_limit_and_decoding(command, data, message):
    with hang_guard():
        result = runner.invoke(app, [command, "-"], input=data)
    assert result.exit_code == EXIT_ERRORS, result.output
    assert message in result.stderr


def test_a_byte_order_mark_is_accepted_and_columns_are_unchanged(tmp_path):
    spec = write(tmp_path, "bom.nns", b"\xef\xbb\xbfmodel m {\n    Input([8])\n    Dense(8, activation=rleu)\n}\n")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == EXIT_ERRORS
    assert f"{spec}:3:25: error: Dense: argument 'activation': unknown activation 'rleu'" in result.stderr
    assert runner.invoke(app, ["fmt", "--check", str(spec)]).exit_code == EXIT_OK


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "fifo"])
def test_devices_and_fifos_through_the_real_entry_point(path, tmp_path):
    if path == "fifo":
        path = str(fifo(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NNSPEC_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", "from cli import main; main()", "check", path],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == EXIT_ERRORS, proc.stderr
    assert proc.stderr.startswith(f"{path}: error: cannot read spec file: it is a ")
    assert "MemoryError" not in proc.stderr and "internal error" not in proc.stderr


# ---- UTF-8 whatever the locale ------------------------------------------------------------------------
UNFORMATTED = """model m {   # café — naïve ×
  Input([8])
    Dense(3, activation=softmax)   # « très »
}
train { loss = sparse_categorical_crossentropy
  optimizer = adam
  data = "données/naïve.npz" }
"""


@pytest.mark.parametrize("env", [{"LC_ALL": "C"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}],
                         ids=["LC_ALL=C", "LC_ALL=C, no UTF-8 mode"])
def test_fmt_reads_and_writes_utf8_whatever_the_locale(env, tmp_path):
    expected = format_source(UNFORMATTED).encode("utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIOENCODING", "PYTHONUTF8"))}
    run_env = {**base, "PYTHONPATH": str(ROOT), **env}
    main = [sys.executable, "-c", "from cli import main; main()"]

    proc = subprocess.run([*main, "fmt", "-"], input=UNFORMATTED.encode("utf-8"), capture_output=True, env=run_env,
                          timeout=60)
    assert proc.returncode == EXIT_OK, proc.stderr.decode("utf-8", "replace")
    assert proc.stdout == expected

    spec = write(tmp_path, "spec.nns", UNFORMATTED)
    proc = subprocess.run([*main, "fmt", "--check", str(spec)], capture_output=True, env=run_env, timeout=60)
    assert proc.returncode == 1 and "# « très »".encode("utf-8") in proc.stdout  # the diff, in UTF-8
    proc = subprocess.run([*main, "fmt", str(spec)], capture_output=True, env=run_env, timeout=60)
    assert proc.returncode == EXIT_OK, proc.stderr.decode("utf-8", "replace")
    assert spec.read_bytes() == expected


@pytest.mark.parametrize("junk", [")", "$"], ids=["tokens", "characters"])
def test_syntax_errors_stop_at_the_limit_and_say_so(junk, tmp_path):
    from spec_lang.parser import MAX_SYNTAX_ERRORS

    spec = write(tmp_path, "junk.nns", "x = 1\n" + f"{junk}\n" * 10_000)
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == EXIT_ERRORS
    assert result.stderr.count(": error: ") == MAX_SYNTAX_ERRORS
    assert f"{spec}: note: stopped after {MAX_SYNTAX_ERRORS} syntax errors" in result.stderr
