"""Base classes of the IR: every node is frozen, forbids extra fields and keeps its span."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from spec_lang.span import Span

Shape = tuple[int, ...]


class IRNode(BaseModel):
    """A frozen IR node. Passes return new nodes (``model_copy(update=...)``), never mutate."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SourceSpan(IRNode):
    """Where in the spec a node came from: 1-based line/column, end exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, span: Span) -> "SourceSpan":
        return cls(path=span.path, line=span.line, column=span.column, end_line=span.end_line,
                   end_column=span.end_column)

    def to_span(self) -> Span:
        return Span(self.path, self.line, self.column, self.end_line, self.end_column)


def shape_str(shape: Shape | None) -> str:
    """Keras-style shape text with the batch axis: ``(None, 8, 8, 32)``."""
    if shape is None:
        return "?"
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"
