"""Source text and spans: where in which file a node came from."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from functools import cached_property
from typing import NamedTuple


def fast_init(cls):
    """Give frozen dataclass ``cls`` an ``__init__`` that fills the instance dict directly.

    The same signature, defaults and result as the generated one (which calls ``object.__setattr__``
    once per field) at less than half the cost: the parser builds several of these per token.
    Instances stay frozen: assigning an attribute still raises ``FrozenInstanceError``.
    """
    names = [f.name for f in fields(cls)]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    body = "".join(f"\n    d['{n}'] = {n}" for n in names)
    namespace = {f"_default_{n}": v for n, v in defaults.items()}
    exec(f"def __init__(self, {params}):\n    d = self.__dict__{body}\n", namespace)  # noqa: S102 - fixed text
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


@dataclass(frozen=True)
class Source:
    """A spec's text and the path it was read from (or a label such as ``<string>``)."""

    path: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        """The lines as the parser counts them: split at '\\n' only (a form feed is not a line break).

        Computed once per source (not per diagnostic), so reporting many errors stays linear.
        """
        return [line.removesuffix("\r") for line in self.text.split("\n")]

    def line(self, lineno: int) -> str:
        """The 1-based line ``lineno`` without its newline ('' past the end)."""
        lines = self.lines
        return lines[lineno - 1] if 1 <= lineno <= len(lines) else ""


class Span(NamedTuple):
    """A 1-based, end-exclusive region of a source file: line/column of start and end.

    A named tuple, not a dataclass: the parser makes one per AST node, and a tuple is made by C code
    (``tuple.__new__(Span, (path, line, column, end_line, end_column))``) at a fraction of the cost.
    Immutable, compared and hashed by value, printed as ``Span(path=..., line=..., ...)``.
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    @staticmethod
    def point(path: str, line: int, column: int) -> "Span":
        return Span(path, line, column, line, column + 1)

    def to(self, other: "Span") -> "Span":
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.path, self.line, self.column, other.end_line, other.end_column)
