"""Text → AST: the lexer (``lexer.py``) and an LALR(1) driver (``lalr.py``) over the table Lark builds
from ``grammar.lark``; syntax errors become diagnostics.

Comments are not part of the grammar; the lexer collects them so that ``nnspec fmt`` can put them back.
Parsing is linear in the size of the text and bounded: at most ``MAX_TOKENS`` tokens (see
``spec_lang.lexer``), ``MAX_SYNTAX_ERRORS`` syntax errors reported, ``MAX_NESTING`` levels of nesting.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from lark import Lark

from spec_lang import ast
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.lalr import END, LalrDriver, SyntaxProblem
from spec_lang.lexer import MAX_TOKENS, Lexer
from spec_lang.reading import MAX_SPEC_BYTES, decode_source, read_source, read_stdin_source
from spec_lang.span import Source, Span

GRAMMAR = Path(__file__).with_name("grammar.lark")
_new = tuple.__new__  # _new(Span, (path, line, column, end_line, end_column)): a Span made by C code
_TEXT = 5  # a token's text: token[_TEXT] (tokens are plain tuples in the layout of lexer.Token)
MAX_SYNTAX_ERRORS = 20
MAX_NESTING = 100  # AST depth; deeper specs would overflow the stack of the recursive passes

# How a terminal is named in "expected ..." messages (string terminals are shown quoted: '(').
_TERMINAL_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", END: "end of file"}
_BRACKETS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}

__all__ = ["MAX_NESTING", "MAX_SPEC_BYTES", "MAX_SYNTAX_ERRORS", "MAX_TOKENS", "decode_source", "parse",
           "parse_file", "read_source", "read_stdin_source"]


@lru_cache(maxsize=1)
def _tables() -> tuple[Lexer, LalrDriver]:
    """The lexer and the LALR driver, from the grammar (Lark caches its analysis on disk)."""
    lark = Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic", cache=True)
    return (Lexer(lark.terminals, lark.lexer_conf.ignore),
            LalrDriver(lark, transparent=frozenset({"paren"}), brackets=_BRACKETS))


def parse_file(path: str | Path) -> tuple[ast.Module, Source]:
    """Read (``read_source``) and parse a spec file."""
    source = read_source(path)
    return parse(source), source


def parse(source: Source | str, path: str = "<string>") -> ast.Module:
    """Parse spec text into an ``ast.Module``; raise ``SpecError`` with every syntax error.

    Linear in the length of the text: one scan, one pass of the LALR driver, no re-parsing.
    """
    if isinstance(source, str):
        source = Source(path, source)
    with paused_gc():
        return _parse(source)


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while many acyclic objects are made (tokens, AST nodes).

    Without this, every few hundred allocations CPython scans all objects still alive, which makes
    building a large tree superlinear (about twice the time for a 1 MB spec). Reference counting
    still frees everything; the collector resumes, as it was, when the block ends. The objects made
    meanwhile are then handed to the oldest generation (``gc.freeze``, ``gc.unfreeze``) rather than
    scanned at once as young ones (a fifth of a second for a 1 MB spec); full collections still see
    them, so nothing is kept that would otherwise be freed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _parse(source: Source) -> ast.Module:
    """``parse`` with the collector paused: scan, drive the table, then report what went wrong."""
    lexer, driver = _tables()
    scan = lexer.scan(source.text, source.path, MAX_SYNTAX_ERRORS)
    if scan.too_many is not None:
        raise SpecError([scan.too_many], source)
    errors = list(scan.errors)
    builder = _AstBuilder(source.path)
    outcome = None
    if len(errors) < MAX_SYNTAX_ERRORS:
        callbacks = [getattr(builder, name, None) for name in driver.rule_names]
        end = _end_token(scan.tokens)
        outcome = driver.parse(scan.tokens, end, callbacks, MAX_SYNTAX_ERRORS - len(errors), MAX_NESTING)
        errors += [_syntax_diagnostic(p, source, lexer.words) for p in outcome.problems]
    if errors:
        errors.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        errors = _dedupe(errors)
        if outcome is None or _stopped_early(outcome.problems, MAX_SYNTAX_ERRORS - len(scan.errors)):
            last = errors[-1]
            errors[-1] = replace(last, notes=(*last.notes, Diagnostic(
                "note", f"stopped after {MAX_SYNTAX_ERRORS} syntax errors; the rest of the file was not read", None)))
        raise SpecError(errors, source)
    statements = outcome.value
    if outcome.too_deep is not None:
        raise SpecError([_too_deep(ast.Module(tuple(statements), (), source.path))], source)
    if builder.errors:
        raise SpecError(builder.errors, source)
    comments = tuple(ast.Comment(c.text, c.line, c.column, c.own_line) for c in scan.comments)
    return ast.Module(tuple(statements), comments, source.path)


def _stopped_early(problems: list[SyntaxProblem], most: int) -> bool:
    """Whether the driver gave up at its error limit before the end of the text."""
    return len(problems) >= most and problems[-1].token.type != END


def _end_token(tokens: list[tuple]) -> tuple:
    """The ``$END`` token, where the last token ends (a tuple in the layout of ``Token``, as the others)."""
    end_line, end_column = (tokens[-1][2], tokens[-1][3]) if tokens else (1, 1)
    return (end_line, end_column, end_line, end_column, END, "")


def _too_deep(module: ast.Module) -> Diagnostic:
    """An error at the first node (in source order) nested more than ``MAX_NESTING`` deep.

    Walks the AST without recursion; called only when the parser found a node that deep.
    """
    stack = [(module, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return Diagnostic("error", f"nested too deeply: more than {MAX_NESTING} levels of brackets, "
                              "operators, calls or repeats", node.span)
        stack.extend((c, depth + 1) for c in reversed(ast.children(node)))
    raise AssertionError("the parser reported a node nested too deeply, but the AST has none")  # pragma: no cover


def _dedupe(errors: list[Diagnostic]) -> list[Diagnostic]:
    """Keep one syntax error per line: recovery after an error tends to cascade."""
    seen: set[int] = set()
    out = []
    for d in errors:
        line = d.span.line if d.span else 0
        if line not in seen:
            seen.add(line)
            out.append(d)
    return out


def _describe_expected(expected: set[str], words: dict[str, str]) -> str:
    if {"NUMBER", "STRING", "NAME"} <= expected:
        return "; expected a value (a number, string, name, list or call)"
    if "RESIDUAL" in expected:  # where a body's next statement (or its end), or what `name =` names, may stand
        shown = ["a layer line", *(word for word in ("repeat", "residual", "parallel", "output")
                                   if word.upper() in expected)]
        if "RBRACE" in expected:
            shown.append("'}'")
        return "; expected " + ", ".join(shown[:-1]) + " or " + shown[-1]
    shown = sorted({_TERMINAL_WORDS.get(t) or words.get(t) or f"'{t.lower()}'" for t in expected})
    if not shown:
        return ""
    if len(shown) > 6:
        shown = shown[:6] + ["..."]
    return "; expected " + (shown[0] if len(shown) == 1 else "one of " + ", ".join(shown))


def _syntax_diagnostic(problem: SyntaxProblem, source: Source, words: dict[str, str]) -> Diagnostic:
    """The error for an unexpected token, with a note at the bracket left open if a closing one was expected."""
    tok, expected = problem.token, set(problem.expected)
    if tok.type == END:
        lines = source.text.split("\n")  # as the lexer counts lines: only \n ends one (not \f, \v, U+2028 ...)
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        span = Span.point(source.path, len(lines), len(lines[-1].rstrip("\r")) + 1)
        message, hint = "unexpected end of file", None
    else:
        shown = f"'{tok.text}'" if tok.type != "STRING" else f"string {tok.text}"
        span = Span(source.path, tok.line, tok.column, tok.end_line, tok.end_column)
        message, hint = f"unexpected {shown}", None
        if tok.type == "EQUAL" and "RPAR" in expected:
            hint = "keyword arguments are written name=value; the name must be a plain name"
        elif tok.type == "LSQB" and expected == {"NAME"}:
            hint = "a line's inputs are names, without a list: Add()(a, b)"
    notes = ()
    opened = problem.open_bracket
    closes_other = tok.type in _BRACKETS.values()  # ']' where ')' was expected
    if opened is not None and _BRACKETS[opened.type] in expected and (
            tok.type == END or tok.line > opened.line or closes_other):
        notes = (Diagnostic("note", f"the '{opened.text}' opened here is not closed",
                            Span(source.path, opened.line, opened.column, opened.end_line, opened.end_column)),)
    return Diagnostic("error", message + _describe_expected(expected, words), span, hint, notes=notes)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class _AstBuilder:
    """Builds ``spec_lang.ast`` nodes with spans: one method per grammar rule (or alias), called by the
    LALR driver with the rule's kept children (tokens and nodes) and its position."""

    def __init__(self, path: str):
        self.path = path
        self.errors: list[Diagnostic] = []  # literals that cannot be represented, misplaced arguments

    def _s(self, pos) -> Span:
        return _new(Span, (self.path, pos[0], pos[1], pos[2], pos[3]))

    def _tok_span(self, tok: tuple) -> Span:
        return _new(Span, (self.path, tok[0], tok[1], tok[2], tok[3]))

    def start(self, items, pos):
        return items

    def const_def(self, items, pos):
        name, value = items
        return ast.ConstDef(name[_TEXT], value, self._s(pos))

    def param(self, items, pos):
        return ast.Param(items[0][_TEXT], items[1] if len(items) > 1 else None, self._s(pos))

    def block_def(self, items, pos):
        name, *params, body = items
        return ast.BlockDef(name[_TEXT], tuple(params), body, self._s(pos), self._tok_span(name))

    def model_def(self, items, pos):
        name, body = items
        return ast.ModelDef(name[_TEXT], body, self._s(pos), self._tok_span(name))

    def train_def(self, items, pos):
        return ast.TrainDef(tuple(items), self._s(pos))

    def setting(self, items, pos):
        name, value = items
        return ast.Setting(name[_TEXT], value, self._s(pos), self._tok_span(name))

    def body(self, items, pos):
        return ast.Body(tuple(items), self._s(pos))

    def repeat(self, items, pos):
        count, body = items
        return ast.Repeat(count, body, self._s(pos))

    def named(self, items, pos):
        name, stmt = items
        return ast.Named(name[_TEXT], self._tok_span(name), False, stmt, self._s(pos))

    def output(self, items, pos):
        name, stmt = items
        return ast.Named(name[_TEXT], self._tok_span(name), True, stmt, self._s(pos))

    def wired(self, items, pos):
        call, *names = items
        return ast.Wired(call, tuple(ast.Name(n[_TEXT], self._tok_span(n)) for n in names), self._s(pos))

    def residual(self, items, pos):
        body, *shortcut = items
        line, column = pos[0], pos[1]
        keyword = _new(Span, (self.path, line, column, line, column + len("residual")))
        return ast.Residual(body, shortcut[0] if shortcut else None, self._s(pos), keyword)

    def parallel(self, items, pos):
        merge, *branches = items
        line, column = pos[0], pos[1]
        keyword = _new(Span, (self.path, line, column, line, column + len("parallel")))
        inner = _new(Span, (self.path, merge.span.end_line, merge.span.end_column, pos[2], pos[3]))
        return ast.Parallel(merge, tuple(branches), self._s(pos), keyword, inner)

    def branch(self, items, pos):
        return ast.Branch(items[0], self._s(pos))

    def call(self, items, pos):
        name = items[0]
        args = []
        keyword_seen = False
        for a in items[1:]:  # a positional argument is an expression; a keyword one an Arg already
            if a.__class__ is ast.Arg:
                keyword_seen = True
            else:
                a = ast.Arg(None, a, a.span)
                if keyword_seen:
                    self.errors.append(Diagnostic("error", "positional argument follows keyword argument", a.span,
                                                  "write it before the name=value arguments, or name it"))
            args.append(a)
        path = self.path
        return ast.Call(name[_TEXT], _new(Span, (path, name[0], name[1], name[2], name[3])), tuple(args),
                        _new(Span, (path, pos[0], pos[1], pos[2], pos[3])))

    def kwarg(self, items, pos):
        name, value = items
        return ast.Arg(name[_TEXT], value, _new(Span, (self.path, pos[0], pos[1], pos[2], pos[3])))

    def number(self, items, pos):
        text = items[0][_TEXT]
        try:
            value: int | float = int(text) if text.isdigit() else float(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            value = math.inf
        if value == math.inf:
            self.errors.append(Diagnostic("error", "number too large", self._s(pos)))
            value = 0
        return ast.Number(text, value, _new(Span, (self.path, pos[0], pos[1], pos[2], pos[3])))

    def string(self, items, pos):
        return ast.String(_unescape(items[0][_TEXT][1:-1]), _new(Span, (self.path, pos[0], pos[1], pos[2], pos[3])))

    def true(self, items, pos):
        return ast.Bool(True, self._s(pos))

    def false(self, items, pos):
        return ast.Bool(False, self._s(pos))

    def name(self, items, pos):
        return ast.Name(items[0][_TEXT], _new(Span, (self.path, pos[0], pos[1], pos[2], pos[3])))

    def list(self, items, pos):
        return ast.ListExpr(tuple(items), self._s(pos))

    def tuple(self, items, pos):
        return ast.TupleExpr(tuple(items), self._s(pos))

    def dict(self, items, pos):
        seen: dict[str, ast.DictItem] = {}
        for item in items:
            if item.key in seen:
                self.errors.append(Diagnostic("error", f"key '{item.key}' is given twice in this dict", item.key_span,
                                              notes=(Diagnostic("note", "first given here", seen[item.key].key_span),)))
            else:
                seen[item.key] = item
        return ast.DictExpr(tuple(items), self._s(pos))

    def dict_item(self, items, pos):
        key, value = items
        text = key[_TEXT]
        quoted = key[4] == "STRING"
        return ast.DictItem(_unescape(text[1:-1]) if quoted else text, self._tok_span(key), quoted, value, self._s(pos))

    def paren(self, items, pos):
        return items[0]

    def _bin(op):  # noqa: N805 - a factory for the binary-operator callbacks
        def method(self, items, pos):
            left, right = items
            return ast.BinOp(op, left, right, self._s(pos))
        return method

    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow = _bin("//"), _bin("%"), _bin("**")

    def neg(self, items, pos):
        return ast.Unary("-", items[0], self._s(pos))

    def pos(self, items, pos):
        return ast.Unary("+", items[0], self._s(pos))
