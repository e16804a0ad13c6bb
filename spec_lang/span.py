"""Source text and spans: where in which file a node came from."""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

from spec_lang.records import Record, record


@record
class Source(Record):
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
