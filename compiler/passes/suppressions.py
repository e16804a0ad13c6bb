"""Silencing lints: suppression comments in the spec and ``--ignore CODE`` on the command line.

Two comment forms, read from the comments the parser already collects:

- ``# nnspec: ignore[code1, code2]`` at the END of a line silences those codes on that line: a
  warning is silenced when the line it points at — or any line of the construct it underlines,
  e.g. a call written over several lines — carries the comment. A comment alone on its line
  silences nothing (it is reported: move it to the end of the line the warning points at).
- ``# nnspec: ignore-file[code1, code2]`` anywhere silences those codes in the whole file.

Codes are those of ``compiler.passes.lint.CODES``. An unknown code, an empty list or a comment that
starts with ``# nnspec:`` but is neither form is itself a warning (``bad-suppression``, with "did
you mean ...?"), which the same means silence. Errors are never silenced.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from compiler.passes.lint import CODES
from spec_lang.diagnostics import Diagnostic
from spec_lang.directives import is_directive
from spec_lang.span import Source, Span

_FORM = re.compile(r"#\s*nnspec\s*:\s*(ignore-file|ignore)\s*\[([^\]]*)\]")  # a reason may follow
FORMS = "'# nnspec: ignore[code, ...]' at the end of a line, or '# nnspec: ignore-file[code, ...]'"


def unknown_code_message(code: str, where: str = "") -> str:
    """"unknown lint code 'x'<where>", then the closest known code, if any, as "; did you mean ...?"."""
    close = difflib.get_close_matches(code, list(CODES), n=1, cutoff=0.6)
    return f"unknown lint code '{code}'{where}" + (f"; did you mean '{close[0]}'?" if close else "")


@dataclass(frozen=True)
class Suppressions:
    """Which warning codes are silenced where. ``keep`` is the one filter every warning goes through."""

    lines: Mapping[int, frozenset[str]] = field(default_factory=dict)  # line -> codes silenced on it
    file: frozenset[str] = frozenset()  # codes silenced in the whole file
    ignored: frozenset[str] = frozenset()  # codes given with --ignore
    problems: tuple[Diagnostic, ...] = ()  # bad-suppression warnings about the comments themselves

    def silences(self, d: Diagnostic) -> bool:
        """True when ``d`` is a warning whose code is ignored, ignored in the file, or ignored on a
        line of its span."""
        if d.severity != "warning" or d.code is None:
            return False
        if d.code in self.ignored or d.code in self.file:
            return True
        if d.span is None:
            return False
        return any(d.code in self.lines.get(line, ()) for line in range(d.span.line, d.span.end_line + 1))

    def keep(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """``diagnostics`` without the silenced warnings, in their order."""
        return [d for d in diagnostics if not self.silences(d)]


def read_suppressions(comments: Iterable, path: str, ignored: Iterable[str] = ()) -> Suppressions:
    """The suppressions written in a spec's ``comments`` (``spec_lang.ast.Comment``), plus the codes
    ``ignored`` on the command line (already checked by the caller)."""
    lines: dict[int, set[str]] = {}
    file: set[str] = set()
    problems: list[Diagnostic] = []
    for comment in comments:
        text = comment.text
        if not is_directive(text):
            continue
        span = Span(path, comment.line, comment.column, comment.line, comment.column + len(text))
        form = _FORM.match(text)
        codes = [c.strip() for c in form.group(2).split(",") if c.strip()] if form else []
        if not codes:
            problems.append(_problem(f"not a suppression comment: write {FORMS}", span))
            continue
        for code in codes:
            if code not in CODES:
                problems.append(_problem(unknown_code_message(code, " in a suppression comment"), span,
                                         "`nnspec check --help` and the README list the codes"))
        known = {c for c in codes if c in CODES}
        if form.group(1) == "ignore-file":
            file |= known
        elif comment.own_line:
            problems.append(_problem("'# nnspec: ignore[...]' silences warnings on the line it ends, and this "
                                     "one stands alone: move it to the end of the line the warning points at, "
                                     "or write '# nnspec: ignore-file[...]'", span))
        else:
            lines.setdefault(comment.line, set()).update(known)
    frozen = {line: frozenset(codes) for line, codes in lines.items()}
    return Suppressions(frozen, frozenset(file), frozenset(ignored), tuple(problems))


def _problem(message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic("warning", message, span, hint, "bad-suppression")


def suppressions_in(source: Source | None, ignored: Iterable[str] = ()) -> Suppressions:
    """The suppressions of a spec's text (parsed again; only ``ignored`` when there is no text, as for
    an IR .json): for warnings about a spec found after it was compiled, e.g. ``nnspec train``'s
    ``unscaled-inputs`` on a data file, which must be silenced exactly as the compiler's are."""
    if source is None:
        return Suppressions(ignored=frozenset(ignored))
    from spec_lang import parse

    return read_suppressions(parse(source).comments, source.path, ignored)
