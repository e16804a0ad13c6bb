"""Text → AST. Lark LALR parser over ``grammar.lark``; syntax errors become diagnostics.

Comments are ignored by the grammar but collected through a lexer callback so that
``nnspec fmt`` can put them back.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from spec_lang import ast
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.span import Source, Span

GRAMMAR = Path(__file__).with_name("grammar.lark")
MAX_SYNTAX_ERRORS = 20
MAX_NESTING = 100  # parse-tree depth; deeper specs would overflow the stack of the recursive passes

# How a terminal is named in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "DOUBLESLASH": "'//'",
    "PERCENT": "'%'", "DOUBLESTAR": "'**'", "TRUE": "'true'", "FALSE": "'false'", "BLOCK": "'block'",
    "MODEL": "'model'", "TRAIN": "'train'", "REPEAT": "'repeat'", "$END": "end of file",
}


_comment_tokens: list[Token] = []


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True,
                cache=True, lexer_callbacks={"COMMENT": _comment_tokens.append})


def read_source(path: str | Path) -> Source:
    """Read a spec file as UTF-8; undecodable bytes or a missing file raise ``SpecError``."""
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic("error", f"cannot read spec file: {exc.strerror or exc}", None)], Source(p, ""))
    return decode_source(p, data)


def decode_source(path: str, data: bytes) -> Source:
    """Decode ``data`` as UTF-8, or raise ``SpecError`` pointing at the first bad byte."""
    try:
        return Source(path, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        src = Source(path, data.decode("utf-8", errors="replace"))
        msg = f"spec file is not valid UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded"
        raise SpecError([Diagnostic("error", msg, Span.point(path, line, col))], src)


def parse_file(path: str | Path) -> tuple[ast.Module, Source]:
    """Read and parse a spec file."""
    source = read_source(path)
    return parse(source), source


def parse(source: Source | str, path: str = "<string>") -> ast.Module:
    """Parse spec text into an ``ast.Module``; raise ``SpecError`` with every syntax error."""
    if isinstance(source, str):
        source = Source(path, source)
    text = source.text
    char_errors: list[Diagnostic] = []
    token_errors: list[Diagnostic] = []

    def on_error(exc: UnexpectedInput) -> bool:
        token_errors.append(_syntax_diagnostic(exc, source))
        return len(token_errors) < MAX_SYNTAX_ERRORS and not isinstance(exc, UnexpectedEOF)

    # A character the lexer cannot read is reported, blanked out, and the text parsed
    # again, so that several bad characters and later syntax errors are all reported.
    tree = None
    for _ in range(MAX_SYNTAX_ERRORS):
        token_errors.clear()
        _comment_tokens.clear()
        try:
            tree = _lark().parse(text, on_error=on_error)
            break
        except UnexpectedCharacters as exc:
            char_errors.append(_syntax_diagnostic(exc, source))
            text = text[: exc.pos_in_stream] + " " + text[exc.pos_in_stream + 1 :]
        except UnexpectedInput as exc:
            token_errors.append(_syntax_diagnostic(exc, source))
            break
        except Exception:  # recovery after an earlier error could not go on; that error stands
            break
    errors = char_errors + token_errors
    if errors:
        errors.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise SpecError(_dedupe(errors), source)
    comments = [_comment(tok, text) for tok in _comment_tokens]
    too_deep = _too_deep(tree, source.path)
    if too_deep is not None:
        raise SpecError([too_deep], source)
    to_ast = _ToAst(source.path)
    statements = to_ast.transform(tree)
    if to_ast.errors:
        raise SpecError(to_ast.errors, source)
    return ast.Module(tuple(statements), tuple(comments), source.path)


def _too_deep(tree: Tree, path: str) -> Diagnostic | None:
    """An error at the first node (in source order) nested more than ``MAX_NESTING`` deep, or None."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            span = _span(path, meta) if getattr(meta, "line", None) else Span.point(path, 1, 1)
            return Diagnostic("error", f"nested too deeply: more than {MAX_NESTING} levels of brackets, "
                              "operators, calls or repeats", span)
        stack.extend((c, depth + 1) for c in reversed(node.children) if isinstance(c, Tree))
    return None


def _comment(tok: Token, text: str) -> ast.Comment:
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    own_line = text[line_start : tok.start_pos].strip() == ""
    return ast.Comment(str(tok).rstrip(), tok.line, tok.column, own_line)


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


def _describe_expected(expected: set[str]) -> str:
    if {"NUMBER", "STRING", "NAME"} <= expected:
        return "; expected a value (a number, string, name, list or call)"
    words = sorted({_TERMINAL_WORDS.get(t, f"'{t.lower()}'") for t in expected if not t.startswith("__")})
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def _syntax_diagnostic(exc: UnexpectedInput, source: Source) -> Diagnostic:
    line = getattr(exc, "line", -1)
    col = getattr(exc, "column", -1)
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
        lines = source.text.split("\n")  # as Lark counts lines: only \n ends one (not \f, \v, U+2028 ...)
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        line, col = len(lines), len(lines[-1].rstrip("\r")) + 1
        expected = getattr(exc, "expected", None) or getattr(exc, "accepts", None) or set()
        return Diagnostic("error", "unexpected end of file" + _describe_expected(set(expected)),
                          Span.point(source.path, line, col))
    if isinstance(exc, UnexpectedCharacters):
        ch = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
        if ch in ("'", '"'):  # a quote the STRING terminal cannot close on its line
            return Diagnostic("error", f"unterminated string: no closing {ch} on this line",
                              Span.point(source.path, line, col))
        what = repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}" if ch else "character"
        return Diagnostic("error", f"unexpected {what}: not part of the spec language",
                          Span.point(source.path, line, col))
    tok = exc.token  # type: ignore[attr-defined]
    expected = getattr(exc, "accepts", None) or getattr(exc, "expected", set())
    shown = f"'{tok}'" if tok.type != "STRING" else f"string {tok}"
    span = Span(source.path, line, col, tok.end_line or line, tok.end_column or col + 1)
    hint = None
    if tok.type == "EQUAL" and "RPAR" in expected:
        hint = "keyword arguments are written name=value; the name must be a plain name"
    return Diagnostic("error", f"unexpected {shown}{_describe_expected(set(expected))}", span, hint)


def _span(path: str, meta) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(path: str, tok: Token) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


def _unescape(body: str) -> str:
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


class _ToAst:
    """Lark parse tree → ``spec_lang.ast`` nodes with spans.

    ``transform`` converts a node's children first, then calls the method named after the node's
    rule with the node's meta (its positions) and the converted children. Lark's ``Transformer``
    with ``v_args(meta=True)`` does the same but wraps every call, which makes it twice as slow.
    The recursion is safe: ``parse`` rejects trees nested deeper than ``MAX_NESTING`` first.
    """

    def __init__(self, path: str):
        self.path = path
        self.errors: list[Diagnostic] = []  # literals that cannot be represented

    def transform(self, tree: Tree):
        children = [self.transform(c) if isinstance(c, Tree) else c for c in tree.children]
        return getattr(self, tree.data)(tree.meta, children)

    def _s(self, meta) -> Span:
        return _span(self.path, meta)

    def start(self, meta, items):
        return items

    def const_def(self, meta, items):
        name, value = items
        return ast.ConstDef(str(name), value, self._s(meta))

    def param(self, meta, items):
        name, default = items
        return ast.Param(str(name), default, self._s(meta))

    def block_def(self, meta, items):
        name, *rest = items
        body = rest[-1]
        params = tuple(p for p in rest[:-1] if p is not None)
        return ast.BlockDef(str(name), params, body, self._s(meta), _tok_span(self.path, name))

    def model_def(self, meta, items):
        name, body = items
        return ast.ModelDef(str(name), body, self._s(meta), _tok_span(self.path, name))

    def train_def(self, meta, items):
        return ast.TrainDef(tuple(items), self._s(meta))

    def setting(self, meta, items):
        name, value = items
        return ast.Setting(str(name), value, self._s(meta), _tok_span(self.path, name))

    def body(self, meta, items):
        return ast.Body(tuple(items), self._s(meta))

    def repeat(self, meta, items):
        count, body = items
        return ast.Repeat(count, body, self._s(meta))

    def call(self, meta, items):
        name, *args = items
        args = tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.span) for a in args if a is not None)
        keyword_seen = False
        for arg in args:
            if arg.name is not None:
                keyword_seen = True
            elif keyword_seen:
                self.errors.append(Diagnostic("error", "positional argument follows keyword argument", arg.span,
                                              "write it before the name=value arguments, or name it"))
        return ast.Call(str(name), _tok_span(self.path, name), args, self._s(meta))

    def kwarg(self, meta, items):
        name, value = items
        return ast.Arg(str(name), value, self._s(meta))

    def number(self, meta, items):
        (tok,) = items
        text = str(tok)
        try:
            value: int | float = int(text) if text.isdigit() else float(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            value = math.inf
        if value == math.inf:
            self.errors.append(Diagnostic("error", "number too large", self._s(meta)))
            value = 0
        return ast.Number(text, value, self._s(meta))

    def string(self, meta, items):
        (tok,) = items
        return ast.String(_unescape(str(tok)[1:-1]), self._s(meta))

    def true(self, meta, items):
        return ast.Bool(True, self._s(meta))

    def false(self, meta, items):
        return ast.Bool(False, self._s(meta))

    def name(self, meta, items):
        (tok,) = items
        return ast.Name(str(tok), self._s(meta))

    def list(self, meta, items):
        return ast.ListExpr(tuple(i for i in items if i is not None), self._s(meta))

    def tuple(self, meta, items):
        return ast.TupleExpr(tuple(i for i in items if i is not None), self._s(meta))

    def paren(self, meta, items):
        return items[0]

    def _bin(op):  # noqa: N805 - a factory for the binary-operator callbacks
        def method(self, meta, items):
            left, right = items
            return ast.BinOp(op, left, right, self._s(meta))
        return method

    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow = _bin("//"), _bin("%"), _bin("**")

    def neg(self, meta, items):
        return ast.Unary("-", items[0], self._s(meta))

    def pos(self, meta, items):
        return ast.Unary("+", items[0], self._s(meta))
