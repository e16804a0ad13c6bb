"""Reading a compiled IR ``.json`` (written by ``nnspec compile``) as untrusted input.

``read_ir`` is the one way every command that takes "a spec file, or an IR .json" loads the IR. It refuses,
with one line that says what and where, anything the compiler could not have written: a file that is not
a regular file or is larger than ``MAX_IR_BYTES``, text that is not JSON, another IR version, a field of
the wrong type or range, an invalid or duplicate name (``compiler.ir.names``), and everything
``compiler.passes.verify`` re-derives (structure, shapes, parameter counts, values, train settings).
"""

from __future__ import annotations

from pathlib import Path

MAX_IR_BYTES = 16 * 2**20  # 2.5 times the IR of the largest model a spec may hold (10,000 layers)


class IRFileError(Exception):
    """An IR file that cannot be used; ``str(error)`` is the one-line message (without the path)."""


def read_ir(path: str | Path):
    """The ``Spec`` in the IR file at ``path``, validated and verified; ``IRFileError`` otherwise.

    Nothing is read from a path that is not a regular file (a FIFO, a device, a directory), nor more than
    ``MAX_IR_BYTES``.
    """
    from pydantic import ValidationError
    from pydantic_core import from_json

    from compiler.ir.spec import IR_VERSION, Spec
    from compiler.passes.verify import verify

    data = _read_bounded(Path(path))
    try:
        document = from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        raise IRFileError(f"not JSON: {escaped(str(exc))}") from None
    if not isinstance(document, dict) or document.get("kind", "spec") != "spec":
        raise IRFileError("not a compiled nnspec IR: expected a JSON object with \"kind\": \"spec\" (the output "
                          "of `nnspec compile`)")
    version = document.get("ir_version", IR_VERSION)
    if version != IR_VERSION:
        raise IRFileError(f"this IR is version {escaped(_short(version))}; this nnspec reads IR version "
                          f"{IR_VERSION}: compile the spec again with `nnspec compile`")
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        raise IRFileError(f"not a valid nnspec IR: {validation_message(exc)}") from None
    problems = verify(spec)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IRFileError(f"not an IR the compiler could have written: {problems[0]}{more}")
    return spec


def _read_bounded(path: Path) -> bytes:
    """The file's bytes through the reader every spec goes through (``spec_lang.reading``): a regular file
    only, checked without blocking, at most ``MAX_IR_BYTES``."""
    from spec_lang.diagnostics import SpecError
    from spec_lang.reading import read_regular_file

    try:
        return read_regular_file(path, MAX_IR_BYTES, "IR file")
    except SpecError as exc:
        raise IRFileError(exc.diagnostics[0].message) from None


def validation_message(exc) -> str:
    """Pydantic's first error as ``where: what (received ...)``, escaped, with the count of the others."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    if first["type"] == "value_error":  # a validator's own sentence (a name, unique names), which shows the value
        what = str(first.get("ctx", {}).get("error", first["msg"]))
    else:
        received = first.get("input")
        shown = "" if isinstance(received, (dict, list)) or received is None else f" (received {_short(received)})"
        what = first["msg"] + shown
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return escaped(f"{where}: {what}" if where else what) + more


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def escaped(text: str) -> str:
    """``text`` with every character that is not printable ASCII escaped as Python would (``\\n``, ``\\x1b``):
    nothing from a hostile file reaches the terminal as a control sequence or a line break."""
    return "".join(c if c.isascii() and c.isprintable() else ascii(c)[1:-1] for c in text)
