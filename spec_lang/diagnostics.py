"""Diagnostics: ``path:line:col: error: message`` with the source line and a caret."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Literal

from spec_lang.records import Record, record
from spec_lang.span import Source, Span

Severity = Literal["error", "warning", "note"]

MAX_REPORTED = 100  # diagnostics printed per file; the rest are counted ("... and N more errors")
EXCERPT_WIDTH = 160  # characters of a source line shown around the caret; longer lines are cut with "..."
MESSAGE_WIDTH = 400  # a message or hint quoting something huge (a 1 MB name) is cut to this, with "..."


@record
class Diagnostic(Record):
    """One message about a span of a spec. ``hint`` is printed after the caret; ``notes`` (each with
    its own span and caret, e.g. the bracket left open) are printed after the message they belong to."""

    severity: Severity
    message: str
    span: Span | None
    hint: str | None = None
    code: str | None = None
    notes: tuple["Diagnostic", ...] = ()

    def render(self, source: Source | None = None) -> str:
        """Render as ``path:line:col: severity: message``, the source line and a caret.

        The caret underlines the span (``^~~~``) on the first line of the span.
        """
        message, hint = _shorten(self.message), _shorten(self.hint) if self.hint else None
        if self.span is None:
            head = f"{source.path if source else '<spec>'}: {self.severity}: {message}"
            return head + (f"\n  = {hint}" if hint else "") + self._render_notes(source)
        sp = self.span
        tag = f" [{self.code}]" if self.code else ""
        out = [f"{sp.path}:{sp.line}:{sp.column}: {self.severity}: {message}{tag}"]
        if source is not None:
            text = source.line(sp.line).expandtabs(1)
            if text or sp.line <= len(source.lines):
                width = (sp.end_column - sp.column) if sp.end_line == sp.line else len(text) - sp.column + 1
                text, column, width = _excerpt(text, sp.column, max(1, width))
                gutter = f"{sp.line:>4} | "
                out.append(gutter + text)
                out.append(" " * (len(gutter) - 2) + "| " + " " * (column - 1) + "^" + "~" * (width - 1))
        if hint:
            out.append(f"     = {hint}")
        return "\n".join(out) + self._render_notes(source)

    def _render_notes(self, source: Source | None) -> str:
        return "".join("\n" + note.render(source) for note in self.notes)


def _shorten(text: str) -> str:
    """``text``, or its first ``MESSAGE_WIDTH`` characters and "..." when it is longer."""
    return text if len(text) <= MESSAGE_WIDTH else text[: MESSAGE_WIDTH - 3] + "..."


def _excerpt(text: str, column: int, width: int) -> tuple[str, int, int]:
    """``text`` cut to about ``EXCERPT_WIDTH`` characters around ``column`` (marked ``...`` where cut),
    with the caret's column and width in the cut text. A line of a megabyte prints as a short one."""
    if len(text) <= EXCERPT_WIDTH:
        return text, column, width
    start = max(0, min(column - 1 - EXCERPT_WIDTH // 4, len(text) - EXCERPT_WIDTH))
    end = start + EXCERPT_WIDTH
    head = "..." if start > 0 else ""
    tail = "..." if end < len(text) else ""
    column = column - start + len(head)
    return head + text[start:end] + tail, column, max(1, min(width, EXCERPT_WIDTH - (column - len(head)) + 1))


def render_diagnostics(diagnostics: list[Diagnostic], source: Source | None,
                       limit: int = MAX_REPORTED) -> list[str]:
    """The first ``limit`` diagnostics rendered, then (if there are more) one line counting the rest:
    ``path: ... and 9,900 more errors``. Rendering costs the same for any number of diagnostics."""
    out = [d.render(source) for d in diagnostics[:limit]]
    rest = diagnostics[limit:]
    if rest:
        errors = sum(d.severity == "error" for d in rest)
        counts = [f"{n:,} more {word}{'s' if n != 1 else ''}"
                  for n, word in ((errors, "error"), (len(rest) - errors, "warning")) if n]
        where = source.path if source is not None else "<spec>"
        out.append(f"{where}: ... and {' and '.join(counts)} (only the first {limit} are shown)")
    return out


@dataclass
class SpecError(Exception):
    """Raised when a spec cannot be compiled; carries every error found, not only the first."""

    diagnostics: list[Diagnostic]
    source: Source | None = None

    def __str__(self) -> str:
        return "\n".join(render_diagnostics(self.diagnostics, self.source))


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
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match is not None else None


MAX_SUGGESTION_CHOICES = 500  # beyond this many choices, only names of about the same length compete


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be (case aside, or a close spelling), or None.

    Bounded work: with thousands of choices (constants of a generated spec) only the
    ``MAX_SUGGESTION_CHOICES`` nearest in length are compared, so a spec with many errors and
    many names is not quadratic.
    """
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    n = len(word)  # a similarity of 0.6 needs lengths within 2*min/(a+b) >= 0.6: a 1 MB word matches nothing
    candidates = [c for c in lowered if 2 * min(len(c), n) >= 0.6 * (len(c) + n)]
    if not candidates:
        return None
    if len(candidates) > MAX_SUGGESTION_CHOICES:
        candidates = sorted(candidates, key=lambda c: (abs(len(c) - n), c))[:MAX_SUGGESTION_CHOICES]
    match = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
    return lowered[match[0]] if match else None
