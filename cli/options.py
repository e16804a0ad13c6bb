"""Options several commands share: ``--ignore CODE`` (every command that prints lints) and
``--threads N`` (every command that runs a model). Both are validated here, before the command runs
(a bad value is a usage error, exit 2); the command then applies them."""

from __future__ import annotations

import typer


def _ignored_codes(values: list[str] | None) -> list[str]:
    """The lint codes of ``--ignore`` (repeatable, or comma-separated); an unknown one is a usage error (exit 2)."""
    from compiler.passes.lint import CODES
    from compiler.passes.suppressions import unknown_code_message

    codes = [c.strip() for value in values or () for c in value.split(",") if c.strip()]
    for code in codes:
        if code not in CODES:
            raise typer.BadParameter(f"{unknown_code_message(code)} (the codes: {', '.join(CODES)})")
    return sorted(set(codes))


def ignore_option():
    """``--ignore CODE``: silence these lint codes (as ``# nnspec: ignore-file[CODE]`` would)."""
    return typer.Option([], "--ignore", metavar="CODE", callback=_ignored_codes,
                        help="Silence a lint code (repeat it, or separate codes with commas), as a "
                        "'# nnspec: ignore-file[CODE]' comment would.")


def threads_option():
    """``--threads N``: the thread count of NumPy's BLAS, PyTorch and TensorFlow; the command applies it
    with ``backends.threads.use_threads`` before it loads data or a framework."""
    return typer.Option(None, "--threads", min=1, metavar="N",
                        help="Threads for NumPy, PyTorch and TensorFlow (recorded in run.json, equiv.json) [default: 1, or "
                        "OMP_NUM_THREADS if set: one thread gives the same bits on every machine and never "
                        "collapses when other work shares the cores].")
