"""The exit codes of every ``nnspec`` command: one table.

Every command exits through these names, never a bare number (``tests/test_cli_agreement.py`` greps for
one). The README's exit-code table is ``readme_table()`` and ``nnspec --help`` ends with ``help_text()``;
the same test checks both, so a code added here reaches the documentation or fails the suite.

Two rules decide between codes:
- 1 (``EXIT_FINDINGS``) means the command ran and found what it looks for: warnings under ``check
  --strict``, files to reformat under ``fmt --check``, backends that part under ``equiv``.
- 3 (``EXIT_DIVERGED``) belongs to ``train``: training diverged and the weights after the last good step
  are saved. ``equiv`` saves no weights and asks whether the backends agree: where training diverges on
  every backend at the same step, blaming the same layer, they agree (0); where they diverge differently,
  they part (1).
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERRORS = 2
EXIT_DIVERGED = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_IO = 74  # EX_IOERR in sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process that Ctrl-C stopped


class ExitCode(NamedTuple):
    code: int
    meaning: str  # Markdown, as the README shows it


EXIT_CODES = (
    ExitCode(EXIT_OK, "success; for `equiv`, the backends agree (also when training diverges on every backend at "
                      "the same step, blaming the same layer)"),
    ExitCode(EXIT_FINDINGS, "findings: warnings under `check --strict`, unformatted files under `fmt --check`, "
                            "backends that part under `equiv`"),
    ExitCode(EXIT_ERRORS, "a user error: a bad spec, data file, argument, checkpoint or output path, or a model or "
                          "data too large for memory; nothing was written"),
    ExitCode(EXIT_DIVERGED, "`train`: training diverged (see Divergence); the weights after the last good step are "
                            "saved"),
    ExitCode(EXIT_INTERNAL, "internal error: a bug in nnspec (`NNSPEC_DEBUG=1` shows the traceback)"),
    ExitCode(EXIT_IO, "a file could not be written (disk full, file too large, I/O error): the error names the "
                      "file, the previous checkpoint is intact, no temporary file is left"),
    ExitCode(EXIT_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM); `train` wrote a checkpoint first"),
)


def readme_table() -> str:
    """The README's exit-code table (Markdown), one row per code of ``EXIT_CODES``."""
    return "\n".join(["| code | meaning |", "|---|---|", *(f"| {c.code} | {c.meaning} |" for c in EXIT_CODES)])


def help_text() -> str:
    """The exit codes for ``nnspec --help``: one line per code (click keeps the lines of a ``\\b`` block)."""
    lines = [textwrap.fill(c.meaning.replace("`", ""), width=100, initial_indent=f"  {c.code:>3}  ",
                           subsequent_indent=" " * 7) for c in EXIT_CODES]
    return "\b\nExit codes:\n" + "\n".join(lines)
