"""Source text and spans: where in which file a node came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A spec's text and the path it was read from (or a label such as ``<string>``)."""

    path: str
    text: str

    @property
    def lines(self) -> list[str]:
        """The lines as the parser counts them: split at '\\n' only (a form feed is not a line break)."""
        return [line.removesuffix("\r") for line in self.text.split("\n")]

    def line(self, lineno: int) -> str:
        """The 1-based line ``lineno`` without its newline ('' past the end)."""
        lines = self.lines
        return lines[lineno - 1] if 1 <= lineno <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A 1-based, end-exclusive region of a source file: line/column of start and end."""

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
