"""The ``nnspec`` command line: one Typer app, one small module per command.

Every command is a thin function over a library call. Errors a user can cause print as
``path:line:col: error: ...`` and exit 2; nothing a user does should show a traceback
(set ``NNSPEC_DEBUG=1`` to see one for an internal error).

Commands are listed in ``COMMANDS`` and a command's module is imported only when that command
runs (``nnspec --help`` imports them all, to show their help): ``nnspec check`` never loads what
training, plotting or the backends need, and ``nnspec --version`` loads none of the compiler.
To add a command, write its function in ``cli/<module>.py`` and add one line to
``COMMANDS``: ``"name": "cli.<module>:<function>"``.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command

from cli.exit_codes import EXIT_ERRORS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, help_text
from compiler import __version__

# command name -> "module:function", in the order `nnspec --help` lists them.
COMMANDS = {
    "check": "cli.check:check",
    "fmt": "cli.fmt:fmt",
    "compile": "cli.compile_cmd:compile_",
    "schema": "cli.schema:schema",
    "train": "cli.train:train",
    "equiv": "cli.equiv:equiv",
    "report": "cli.report:report",
    "lr-find": "cli.lr_find:lr_find",
    "diagnose": "cli.diagnose:diagnose",
    "emit": "cli.emit:emit",
    "search": "cli.search:search",
    "fix": "cli.fix:fix",
}

# Typer settings shared by the app and by each command built on demand.
_SETTINGS = dict(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


def load_command(name: str) -> TyperCommand:
    """Import the module of command ``name`` and build its click command, as ``app.command(name)`` would."""
    module, function = COMMANDS[name].split(":")
    single = typer.Typer(**_SETTINGS)
    single.command(name)(getattr(importlib.import_module(module), function))
    return get_command(single)


class _LazyCommands(MutableMapping):
    """The app's commands by name: every name in ``COMMANDS``, each built on first access.

    Iterating gives the names without importing anything (help, "did you mean ...?").
    """

    def __init__(self, built: MutableMapping[str, TyperCommand]):
        self._built = dict(built)  # commands registered with app.command(...), if any

    def __getitem__(self, name: str) -> TyperCommand:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = load_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: TyperCommand) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **self._built})

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._built.keys())


class _LazyGroup(TyperGroup):
    """The app's click group, with ``_LazyCommands`` as its commands."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # the names only: TyperGroup's version would build every command

    def invoke(self, ctx):
        """Run the command; memory running out (a model too large, a batch that does not fit: see
        ``runtime.model_memory``) is the user's error in one line, exit 2 — for every command, here once."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not _out_of_memory(exc) or os.environ.get("NNSPEC_DEBUG"):
                raise
            message = " ".join(str(exc).split()) or "no memory left"
            if len(message) > 400:  # TensorFlow's names every frame of the op's definition
                message = message[:397] + "..."
            if not str(exc).startswith("the model does not fit in memory"):
                message = f"out of memory: {message}"
            print(f"nnspec {ctx.invoked_subcommand or ''}: error: {message}".replace(" :", ":"), file=sys.stderr)
            raise typer.Exit(EXIT_ERRORS) from None


app = typer.Typer(
    name="nnspec",
    cls=_LazyGroup,
    help="nnspec: compile neural-network specs to NumPy, PyTorch and Keras, and prove they agree.\n\n"
         "Examples:\n\n  nnspec check specs/*.nns\n\n  nnspec fmt --check specs/\n\n"
         "  nnspec compile specs/digits_mlp.nns -o digits.ir.json\n\n" + help_text(),
    no_args_is_help=True,
    **_SETTINGS,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nnspec {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                       callback=_version, is_eager=True)) -> None:
    """nnspec: compile neural-network specs to NumPy, PyTorch and Keras, and prove they agree."""


def _out_of_memory(exc: BaseException) -> bool:
    from runtime.model_memory import is_out_of_memory  # here: only a failing command pays for the import

    return is_out_of_memory(exc)


def main() -> None:
    """Console-script entry point: run the app; an internal error is one line, not a traceback."""
    # nnspec uses no pydantic plugins: skip pydantic's scan of every installed package's entry points
    # (a few ms per run, more in a large environment), unless the user has said otherwise.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # At exit, the interpreter's shutdown runs the cyclic garbage collector over every object still
    # alive (pydantic's validators, the IR and Typer classes, ...): about a fifth of a `nnspec check`.
    # Freezing them when the process exits skips those passes. Nothing else changes: atexit handlers
    # run, streams are flushed, objects outside reference cycles are freed as usual, and the memory
    # of the cycles goes back to the OS (Python never promised to finalize them at exit).
    atexit.register(gc.freeze)
    try:
        app()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug in nnspec, not a user error: say so briefly
        if os.environ.get("NNSPEC_DEBUG"):
            raise
        print(f"nnspec: internal error: {type(exc).__name__}: {exc} (set NNSPEC_DEBUG=1 for details)",
              file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
