"""Base classes of the IR: every node is frozen, forbids extra fields and keeps its span.

Start-up time: every command that compiles a spec creates all the IR classes, so their cost is
paid by each ``nnspec check``. Two choices keep it low:

* ``defer_build=True``: a class builds its validator on first use, so a spec pays only for the
  kinds it uses;
* the modules that define IR classes (here, ``compiler/ir`` and ``compiler/ir/layers``) do not use
  ``from __future__ import annotations``: with it, pydantic compiles and evaluates every field's
  annotation string when the class is created (about 5 ms in all). A forward reference is written
  as a string instead (``WarmupSchedule.then: "Schedule"``).
"""

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
