"""Text → tokens in one pass: a single regular expression built from the terminals of ``grammar.lark``.

The terminals (their patterns, which ones are ignored, which strings are keywords) come from the
Lark grammar, so the grammar stays the one definition of the language; scanning them here instead
of in Lark's lexer is three to four times faster (blanks are skipped inside the one regex) and
linear in the text, whatever the text holds.

Positions are counted as Lark counts them: only ``\\n`` ends a line (not ``\\f``, ``\\v``, U+2028 ...),
lines and columns are 1-based and columns count characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from lark.lexer import PatternRE, PatternStr

from spec_lang.diagnostics import Diagnostic
from spec_lang.records import Record, record
from spec_lang.span import Span

MAX_TOKENS = 250_000  # README "Limits": about a second of parsing, 1.5 MB of formatted code; a real spec has a few thousand
_KEPT = frozenset({"COMMENT"})  # ignored terminals the lexer still reports (for the formatter)
_BLANK = "_BLANK"  # the group that matches when only blanks are left before the next character
# Characters the fast scan hands to the regular expression at once, ended at a line break (a token never
# spans lines); a line longer than _LONG_LINE is left to the exact scan, which stops at the token limit.
_CHUNK = 1 << 16
_LONG_LINE = 1 << 18
# A capturing group in a terminal's pattern: "(" not escaped, not in a character class, not "(?".
_CAPTURING = re.compile(r"\\.|\[(?:\\.|[^\]])*\]|(\()(?!\?)")


class Token(NamedTuple):
    """A token and where it stands (1-based; ``end_column`` exclusive; a token never spans lines).

    The lexer's tokens are plain tuples in this layout (``Token(*t)`` names the fields): one is made per
    token, and a plain tuple costs less than half as much to make and to free.
    """

    line: int
    column: int
    end_line: int
    end_column: int
    type: str
    text: str


@record
class RawComment(Record):
    """A ``# ...`` comment as scanned: its text, line, column and whether code precedes it on its line."""

    text: str
    line: int
    column: int
    own_line: bool


@dataclass
class Scan:
    """What the lexer found: the tokens, the comments, and the characters it could not read."""

    tokens: list[tuple] = field(default_factory=list)  # each in the layout of Token
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
        # Ignored terminals other than comments (whitespace) are skipped inside each match, before the
        # token, so that blanks cost no turn of the Python loop; comments are kept for the formatter.
        blanks = [t for t in scanned if t.name in ignore and t.name not in _KEPT]
        tokens = [t for t in scanned if t not in blanks]
        # The blanks are matched possessively, and a match may end after them with no token (the empty
        # group _BLANK, last): a run of blanks before an unreadable character is then read once, not
        # again from each of its positions (which made the scan quadratic).
        prefix = "(?:" + "|".join(t.pattern.to_regexp() for t in blanks) + ")*+" if blanks else ""
        alternatives = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in tokens] + [f"(?P<{_BLANK}>)"]
        self.regex = re.compile(prefix + "(?:" + "|".join(alternatives) + ")")
        # The fast scan: (blanks, token or "") pairs from one findall per chunk, no match objects; a token's
        # terminal is found from its text (``_kind``), once per distinct text.
        token_patterns = "|".join(_non_capturing(t.pattern.to_regexp()) for t in tokens)
        self.pairs = re.compile(f"({prefix})({token_patterns}|)")
        if self.pairs.groups != 2:  # pragma: no cover - a pattern with a group _non_capturing missed
            raise ValueError("the lexer's terminals must not hold capturing groups it cannot rewrite")
        self.blank = re.compile("(?:" + "|".join(t.pattern.to_regexp() for t in blanks) + ")") if blanks else None
        self.names = {index: name for name, index in self.regex.groupindex.items()}
        self.comments = frozenset(t.name for t in tokens if t.name in ignore)
        self.words = {t.name: f"'{t.pattern.value}'" for t in terminals if isinstance(t.pattern, PatternStr)}

    def scan(self, text: str, path: str, max_errors: int, max_tokens: int = MAX_TOKENS) -> Scan:
        """Every token of ``text``; an unreadable character is an error and is skipped (as a blank).

        Stops after ``max_errors`` unreadable characters, or at the first token past ``max_tokens``
        (``Scan.too_many`` says so), so the work is bounded whatever the text. Text that is all tokens
        and blanks is scanned by ``_scan_clean``; from the first unreadable character (or a line too long
        to hand to it), ``_scan_exact`` goes on. Both give the same tokens, comments and positions.
        """
        out = Scan()
        rest = self._scan_clean(text, out, max_tokens)
        if out.too_many is None and len(out.tokens) > max_tokens:
            line, column = out.tokens[max_tokens][:2]
            del out.tokens[max_tokens + 1:]
            while out.comments and (out.comments[-1].line, out.comments[-1].column) > (line, column):
                out.comments.pop()
            out.too_many = _too_many(path, line, column, max_tokens)
        elif rest is not None:
            self._scan_exact(text, path, out, max_errors, max_tokens, *rest)
        return out

    def _scan_clean(self, text: str, out: Scan, max_tokens: int) -> tuple[int, int, int] | None:
        """Scan ``text`` a chunk of lines at a time, each with one ``findall``, until the end, an unreadable
        character, a very long line or more than ``max_tokens`` tokens. Returns where the exact scan must
        go on, as (position, line, start of that line), or None.

        One turn of the loop per token: no match objects; the terminal of each distinct text is looked
        up once (``_kind``); lines are counted in the blanks before a token (by C code: ``in``, ``count``).
        The loop counts columns, not offsets into the text: small integers, which Python does not allocate.
        """
        tokens, comments = out.tokens, out.comments
        append, findall = tokens.append, self.pairs.findall
        kinds: dict[str, str] = {"": _BLANK}
        special = self.comments | {_BLANK}
        line, line_start, col, size = 1, 0, 1, len(text)  # the next character is text[line_start + col - 1]
        while (pos := line_start + col - 1) < size:
            end = text.find("\n", pos + _CHUNK) + 1 or size  # just after a line break, or the end
            if end - pos > _CHUNK + _LONG_LINE:
                return pos, line, line_start
            for blank, value in findall(text, pos, end):
                if blank:
                    if "\n" in blank:
                        last = blank.rindex("\n")
                        line += blank.count("\n")
                        line_start += col + last
                        col = len(blank) - last
                    else:
                        col += len(blank)
                try:
                    kind = kinds[value]
                except KeyError:
                    kind = kinds[value] = self._kind(value)
                if kind in special:
                    if kind == _BLANK:
                        pos = line_start + col - 1
                        if pos < end:  # no token here: an unreadable character
                            return pos, line, line_start
                        continue
                    own_line = text[line_start:line_start + col - 1].strip() == ""
                    comments.append(RawComment(value.rstrip(), line, col, own_line))
                    col += len(value)
                    continue
                stop = col + len(value)
                append((line, col, line, stop, kind, value))
                col = stop
            if len(tokens) > max_tokens:
                return None
        return None

    def _kind(self, value: str) -> str:
        """The terminal of token text ``value``: the first alternative of ``regex`` that matches it, as at
        any place in a text (an earlier one that matched a prefix of ``value`` would have matched there)."""
        m = self.regex.match(value)
        kind = self.names[m.lastindex]
        return self.keywords[kind].get(value, kind) if kind in self.keywords else kind

    def _scan_exact(self, text: str, path: str, out: Scan, max_errors: int, max_tokens: int, pos: int, line: int,
                    line_start: int) -> None:
        """Scan ``text`` from ``pos`` (on line ``line``, which starts at ``line_start``) with match objects:
        unreadable characters are reported, a line of any length is scanned. One turn of the loop per
        token or comment; blanks and line counting are done by C code (the regex, ``str.count``)."""
        tokens, comments = out.tokens, out.comments
        append = tokens.append
        names, special, keywords, count = self.names, self.comments | {_BLANK}, self.keywords, text.count
        for m in self.regex.finditer(text, pos):
            index = m.lastindex
            start, end = m.span(index)
            if start != pos:  # blanks, or characters no terminal matches, before the token
                if m.start() != pos and self._unreadable(text, pos, m.start(), path, line, line_start, out, max_errors):
                    return
                newlines = count("\n", pos, start)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", pos, start) + 1
            pos = end
            kind = names[index]
            if kind in special:
                if kind == _BLANK:  # blanks and no token: the end of the text, or an unreadable character
                    continue
                own_line = text[line_start:start].strip() == ""
                comments.append(RawComment(m.group(index).rstrip(), line, start - line_start + 1, own_line))
                continue
            value = m.group(index)
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            col = start - line_start + 1
            append((line, col, line, col + end - start, kind, value))
            if len(tokens) > max_tokens:
                out.too_many = _too_many(path, line, col, max_tokens)
                return
        self._unreadable(text, pos, len(text), path, line, line_start, out, max_errors)

    def _unreadable(self, text: str, start: int, end: int, path: str, line: int, line_start: int, out: Scan,
                    max_errors: int) -> bool:
        """Report the characters of ``text[start:end]`` that are not blanks (none are tokens); True when
        ``max_errors`` is reached. Rare: only text with characters the language does not have."""
        i = start
        while i < end:
            blank = self.blank.match(text, i, end) if self.blank is not None else None
            if blank is not None:
                newlines = text.count("\n", i, blank.end())
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", i, blank.end()) + 1
                i = blank.end()
                continue
            out.errors.append(_bad_character(text, i, path, line, i - line_start + 1))
            if len(out.errors) >= max_errors:
                return True
            i += 1
        return False


def _too_many(path: str, line: int, col: int, max_tokens: int) -> Diagnostic:
    return Diagnostic("error", f"the spec is too large: more than {max_tokens:,} tokens (names, numbers, brackets, ...)",
                      Span.point(path, line, col), "split it, or write repeated layers with `repeat` or a `block`")


def _non_capturing(pattern: str) -> str:
    """``pattern`` with its capturing groups made non-capturing: ``(a|b)`` → ``(?:a|b)``."""
    return _CAPTURING.sub(lambda m: "(?:" if m.group(1) else m.group(0), pattern)


def _bad_character(text: str, i: int, path: str, line: int, col: int) -> Diagnostic:
    ch = text[i]
    if ch in ("'", '"'):  # a quote the STRING terminal cannot close on its line
        return Diagnostic("error", f"unterminated string: no closing {ch} on this line", Span.point(path, line, col))
    what = repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}"
    return Diagnostic("error", f"unexpected {what}: not part of the spec language", Span.point(path, line, col))
