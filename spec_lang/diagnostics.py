"""Diagnostics: ``path:line:col: error: message`` with the source line and a caret."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Literal

from spec_lang.span import Source, Span

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Diagnostic:
    """One message about a span of a spec. ``hint`` is printed after the caret."""

    severity: Severity
    message: str
    span: Span | None
    hint: str | None = None
    code: str | None = None

    def render(self, source: Source | None = None) -> str:
        """Render as ``path:line:col: severity: message``, the source line and a caret.

        The caret underlines the span (``^~~~``) on the first line of the span.
        """
        if self.span is None:
            head = f"{source.path if source else '<spec>'}: {self.severity}: {self.message}"
            return head + (f"\n  = {self.hint}" if self.hint else "")
        sp = self.span
        tag = f" [{self.code}]" if self.code else ""
        out = [f"{sp.path}:{sp.line}:{sp.column}: {self.severity}: {self.message}{tag}"]
        if source is not None:
            text = source.line(sp.line).expandtabs(1)
            if text or sp.line <= len(source.lines):
                width = (sp.end_column - sp.column) if sp.end_line == sp.line else len(text) - sp.column + 1
                width = max(1, width)
                gutter = f"{sp.line:>4} | "
                out.append(gutter + text)
                out.append(" " * (len(gutter) - 2) + "| " + " " * (sp.column - 1) + "^" + "~" * (width - 1))
        if self.hint:
            out.append(f"     = {self.hint}")
        return "\n".join(out)


@dataclass
class SpecError(Exception):
    """Raised when a spec cannot be compiled; carries every error found, not only the first."""

    diagnostics: list[Diagnostic]
    source: Source | None = None

    def __str__(self) -> str:
        return "\n".join(d.render(self.source) for d in self.diagnostics)


@dataclass
class DiagnosticSink:
    """Collects diagnostics while a spec is checked, so that all errors are reported."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("error", message, span, hint))

    def warning(self, message: str, span: Span | None, hint: str | None = None, code: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("warning", message, span, hint, code))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A "did you mean 'x'?" hint for the closest of ``choices`` to ``word``, or None."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean '{lowered[word.lower()]}'?"
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean '{lowered[match[0]]}'?" if match else None
