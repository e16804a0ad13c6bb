"""Text → tokens in one pass: a single regular expression built from the terminals of ``grammar.lark``.

The terminals (their patterns, which ones are ignored, which strings are keywords) come from the
Lark grammar, so the grammar stays the one definition of the language; scanning them here instead
of in Lark's lexer is about five times faster and linear in the text, whatever the text holds.

Positions are counted as Lark counts them: only ``\\n`` ends a line (not ``\\f``, ``\\v``, U+2028 ...),
lines and columns are 1-based and columns count characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from lark.lexer import PatternRE, PatternStr

from spec_lang.diagnostics import Diagnostic
from spec_lang.span import Span

MAX_TOKENS = 400_000  # see README "Limits": about 1.5 s of parsing; a real spec has a few thousand


class Token(NamedTuple):
    """A token and where it stands (1-based; ``end_column`` exclusive; a token never spans lines)."""

    line: int
    column: int
    end_line: int
    end_column: int
    type: str
    text: str


@dataclass(frozen=True)
class RawComment:
    """A ``# ...`` comment as scanned: its text, line, column and whether code precedes it on its line."""

    text: str
    line: int
    column: int
    own_line: bool


@dataclass
class Scan:
    """What the lexer found: the tokens, the comments, and the characters it could not read."""

    tokens: list[Token] = field(default_factory=list)
    comments: list[RawComment] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    too_many: Diagnostic | None = None  # set when the text has more than MAX_TOKENS tokens


class Lexer:
    """Scans text with the terminals of a Lark grammar (``lexer="basic"`` semantics).

    A string terminal that is also matched in full by a pattern terminal (``model`` by ``NAME``) is a
    keyword: scanned by the pattern, then renamed, as Lark's basic lexer does.
    """

    def __init__(self, terminals, ignore: list[str]):
        regexps = [t for t in terminals if isinstance(t.pattern, PatternRE)]
        self.keywords: dict[str, dict[str, str]] = {}
        scanned = []
        for t in terminals:
            owner = next((r for r in regexps if isinstance(t.pattern, PatternStr)
                          and re.fullmatch(r.pattern.to_regexp(), t.pattern.value)), None)
            if owner is not None:
                self.keywords.setdefault(owner.name, {})[t.pattern.value] = t.name
            else:
                scanned.append(t)
        # Lark's order: higher priority first, then the longer pattern ('//' before '/').
        scanned.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        self.regex = re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanned))
        self.ignore = frozenset(ignore)
        self.words = {t.name: f"'{t.pattern.value}'" for t in terminals if isinstance(t.pattern, PatternStr)}

    def scan(self, text: str, path: str, max_errors: int, max_tokens: int = MAX_TOKENS) -> Scan:
        """Every token of ``text``; an unreadable character is an error and is skipped (as a blank).

        Stops after ``max_errors`` unreadable characters, or at the first token past ``max_tokens``
        (``Scan.too_many`` says so), so the work is bounded whatever the text.
        """
        out = Scan()
        tokens, comments, errors = out.tokens, out.comments, out.errors
        append, new = tokens.append, tuple.__new__  # Token(...) through tuple.__new__: a third of the cost
        ignore, keywords = self.ignore, self.keywords
        line, line_start, pos = 1, 0, 0
        for m in self.regex.finditer(text):
            start, end = m.span()
            if start != pos:  # characters no terminal matches (never a newline: WS takes those)
                for i in range(pos, start):
                    errors.append(_bad_character(text, i, path, line, i - line_start + 1))
                    if len(errors) >= max_errors:
                        return out
            pos = end
            kind = m.lastgroup
            if kind in ignore:
                if kind == "COMMENT":
                    own_line = text[line_start:start].strip() == ""
                    comments.append(RawComment(m.group().rstrip(), line, start - line_start + 1, own_line))
                else:
                    newlines = text.count("\n", start, pos)
                    if newlines:
                        line += newlines
                        line_start = text.rindex("\n", start, pos) + 1
                continue
            value = m.group()
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            col = start - line_start + 1
            append(new(Token, (line, col, line, col + pos - start, kind, value)))
            if len(tokens) > max_tokens:
                out.too_many = Diagnostic("error", f"the spec is too large: more than {max_tokens:,} tokens "
                                          "(names, numbers, brackets, ...)", Span.point(path, line, col),
                                          "split it, or write repeated layers with `repeat` or a `block`")
                return out
        for i in range(pos, len(text)):
            errors.append(_bad_character(text, i, path, line, i - line_start + 1))
            if len(errors) >= max_errors:
                break
        return out


def _bad_character(text: str, i: int, path: str, line: int, col: int) -> Diagnostic:
    ch = text[i]
    if ch in ("'", '"'):  # a quote the STRING terminal cannot close on its line
        return Diagnostic("error", f"unterminated string: no closing {ch} on this line", Span.point(path, line, col))
    what = repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}"
    return Diagnostic("error", f"unexpected {what}: not part of the spec language", Span.point(path, line, col))
