"""Writing Python source: literals, identifiers, calls that wrap like ``ruff format``, indented blocks.

The emitters build their files out of these pieces instead of one large f-string, so that every
value is written exactly (floats by ``repr``: the shortest text that reads back to the same float)
and every line stays within ``LINE_LENGTH`` where it can.

Every string that comes from a spec (a name, a path, a file name, a label) reaches the generated
source through one of three functions, so that no spec can end a string, a comment or a docstring
early and have its text run as code:

- ``quote(text)``: a Python string literal (``repr``'s escaping, double quotes), for code;
- ``prose(text)``: the text for a comment or a docstring: itself when it is one printable line, else
  its quoted form (``Code.docstring`` escapes backslashes and quotes on top, so it cannot be closed);
- ``identifier(name, ...)``: a validated Python identifier, renamed (suffix) when it clashes with a
  keyword, a builtin or a name the emitted code uses.

``Code`` refuses a line holding a character Python or an editor could take for a line break (``\\r``,
``\\x0c``, ``\\u2028``, ...) or a NUL: text that reaches it unquoted is a bug, never a program.
"""

from __future__ import annotations

import builtins
import keyword
import re
import textwrap
from contextlib import contextmanager

LINE_LENGTH = 88  # ruff's and black's default
INDENT = "    "
# Characters that end a line for Python (\r), for str.splitlines (\x0b, \x0c, \x1c-\x1e, \x85, \u2028,
# \u2029) or that Python refuses in source (\x00): none may stand in generated code outside a quoted string.
UNSAFE_IN_SOURCE = frozenset("\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
BUILTINS = frozenset(dir(builtins))


def quote(text: str) -> str:
    """``text`` as a Python string literal that evaluates to exactly ``text``: ``repr``'s escaping (every
    quote, backslash, control character, line or paragraph separator, lone surrogate escaped), written
    with double quotes when ``text`` holds no quote. The one way a spec's string becomes code."""
    if not isinstance(text, str):
        raise TypeError(f"quote() takes a str, not {type(text).__name__}")
    body = repr(text)
    if body.startswith("'") and '"' not in text:  # then text holds no ' either: nothing inside is escaped quote
        body = '"' + body[1:-1] + '"'
    return body


def prose(text: str) -> str:
    """``text`` for a comment or a docstring: itself when it is printable (no line break, control or
    separator character), else ``quote(text)``, which is. Either way it is one line."""
    text = str(text)
    return text if text.isprintable() else quote(text)


def literal(value) -> str:
    """``value`` as Python source: floats exactly (``repr``), strings double-quoted, tuples and lists."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"inf": "math.inf", "-inf": "-math.inf"}.get(repr(value), "math.nan")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def pair(value) -> str:
    """A (height, width) pair, written as one int when both are equal (as Keras and torch accept)."""
    a, b = value
    return literal(a) if a == b else literal((a, b))


def identifier(name: str, taken: set[str], reserved: frozenset[str] = frozenset()) -> str:
    """A valid, safe Python identifier for ``name`` (a layer name), added to ``taken``.

    Characters other than ASCII letters, digits and ``_`` become ``_``; a leading digit gets a ``_``
    before it; a name starting with ``_`` gets ``layer`` before it (such names belong to the class and its
    framework: ``_modules``, ``__class__``, and ``__x`` would be mangled inside a class body); a keyword,
    a builtin, a ``reserved`` name or one already ``taken`` gets a suffix (``forward`` → ``forward_layer``,
    then ``forward_layer2``, ...)."""
    ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "layer"
    if ident[0].isdigit():
        ident = "_" + ident
    if ident.startswith("_"):
        ident = "layer" + ident
    base, n = ident, 1
    while keyword.iskeyword(ident) or ident in BUILTINS or ident in reserved or ident in taken:
        ident = f"{base}_layer" if n == 1 else f"{base}_layer{n}"
        n += 1
    assert ident.isidentifier() and ident.isascii(), ident
    taken.add(ident)
    return ident


def class_name(name: str, taken: frozenset[str] = frozenset()) -> str:
    """CamelCase for a spec name: ``digits_mlp`` → ``DigitsMlp``; ``Model`` is added to a name that starts
    with a digit, or that is a keyword, a builtin (``SystemExit``) or ``taken`` (a name the file already
    uses, such as ``F``). Only ASCII letters and digits survive."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if text[0].isdigit():
        return "Model" + text
    if text in taken or keyword.iskeyword(text) or text in BUILTINS:
        return text + "Model"
    return text


class Call:
    """A call whose arguments may be calls: written on one line when it fits, else one argument per line
    (each wrapped the same way in turn), as ``ruff format`` lays it out."""

    def __init__(self, func: str, args: list) -> None:
        self.func = func
        self.args = list(args)

    def __str__(self) -> str:
        return f"{self.func}({', '.join(map(str, self.args))})"

    def lines(self, indent: int = 0, prefix: str = "", suffix: str = "") -> list[str]:
        one_line = f"{prefix}{self}{suffix}"
        if len(INDENT * indent + one_line) <= LINE_LENGTH or not self.args:
            return [one_line]
        out = [f"{prefix}{self.func}("]
        for arg in self.args:
            if isinstance(arg, (Call, Keyword)):
                out.extend(INDENT + line for line in arg.lines(indent + 1, suffix=","))
            else:
                out.append(f"{INDENT}{arg},")
        return out + [")" + suffix]


class Keyword:
    """``name=value`` where value may be a :class:`Call` (wrapped after the ``=``)."""

    def __init__(self, name: str, value) -> None:
        self.name, self.value = name, value

    def __str__(self) -> str:
        return f"{self.name}={self.value}"

    def lines(self, indent: int = 0, prefix: str = "", suffix: str = "") -> list[str]:
        if isinstance(self.value, Call):
            return self.value.lines(indent, prefix=f"{prefix}{self.name}=", suffix=suffix)
        return [f"{prefix}{self}{suffix}"]


def call(func: str, args: list, indent: int = 0, suffix: str = "") -> list[str]:
    """``func(arg, ...)`` on one line if it fits at ``indent`` levels, else one argument per line with a
    trailing comma (the layout ``ruff format`` gives); arguments that are :class:`Call` or :class:`Keyword`
    wrap in turn. ``suffix`` follows the closing parenthesis."""
    return Call(func, args).lines(indent, suffix=suffix)


def _blocks(lines: list[str]):
    """("para", joined text) for runs of plain lines; ("keep", line) for blank, indented or "- " lines."""
    para: list[str] = []
    for line in lines:
        if not line.strip() or line.startswith(" ") or line.startswith("- "):
            if para:
                yield "para", " ".join(para)
                para = []
            yield "keep", line
        else:
            para.append(line.strip())
    if para:
        yield "para", " ".join(para)


def docstring_text(line: str) -> str:
    """One line of a docstring's text as it must stand between triple quotes to read back as itself:
    backslashes doubled (no ``\\N{...}`` or other escape can begin), other unprintable characters escaped,
    and every ``"`` followed by another ``"`` or by the end of the line written ``\\"``, so that no three
    quotes in a row can close the docstring early."""
    text = "".join(("\\\\" if c == "\\" else c) if c.isprintable() else repr(c)[1:-1] for c in line)
    return re.sub(r'"(?="|\Z)', r'\\"', text)


def fit_comment(line: str, level: int) -> str:
    """A line whose trailing comment would pass the line length gets the comment on a line above."""
    if len(INDENT * level + line) <= LINE_LENGTH or "  # " not in line:
        return line
    code, comment = line.split("  # ", 1)
    return f"# {comment}\n{code}"


class Code:
    """Lines of source with an indentation level; ``block`` indents what is written inside it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def __call__(self, *lines: str) -> "Code":
        """Add ``lines`` at the current indentation (a ``\\n`` inside one starts another line). Raises
        ``ValueError`` for a line holding a character in ``UNSAFE_IN_SOURCE``: spec text must arrive quoted."""
        for line in lines:
            if not UNSAFE_IN_SOURCE.isdisjoint(line):
                raise ValueError(f"unquoted text in generated code: {line!r}")
            for part in line.split("\n"):
                self.lines.append(INDENT * self.level + part if part else "")
        return self

    def call(self, func: str, args: list, prefix: str = "", suffix: str = "") -> "Code":
        """A call wrapped by :func:`call`, after ``prefix`` (e.g. ``x = ``)."""
        return self(*Call(func, args).lines(self.level, prefix=prefix, suffix=suffix))

    def blank(self, n: int = 1) -> "Code":
        """Blank lines up to ``n`` in a row (never more, and none at the top of the file)."""
        trailing = 0
        while trailing < len(self.lines) and not self.lines[-1 - trailing]:
            trailing += 1
        if self.lines:
            self.lines.extend([""] * max(0, n - trailing))
        return self

    @contextmanager
    def block(self, header: str):
        self(header)
        self.level += 1
        try:
            yield self
        finally:
            self.level -= 1

    def docstring(self, text: str) -> "Code":
        """A docstring wrapped to the line length: one line if it fits, else its paragraphs (lines
        joined, then wrapped) and the closing quotes on their own line. Blank lines, indented lines
        (examples) and list items ("- ") are kept as they are."""
        width = LINE_LENGTH - len(INDENT) * self.level
        out: list[str] = []
        for kind, block in _blocks(text.strip().split("\n")):
            if kind == "keep":
                out.append(block)
                continue
            room = width - (3 if not out else 0)
            first, *rest = textwrap.wrap(block, room, break_long_words=False, break_on_hyphens=False) or [""]
            out.append(first)
            out.extend(textwrap.wrap(" ".join(rest), width, break_long_words=False, break_on_hyphens=False))
        if len(out) == 1 and len(out[0]) + 6 <= width:
            return self(f'"""{docstring_text(out[0])}"""')
        if len(out) == 1:  # one line that fits only without the closing quotes: make it two
            first, *rest = textwrap.wrap(out[0], width - 6, break_long_words=False, break_on_hyphens=False)
            out = [first, " ".join(rest)]
        out = [docstring_text(line) for line in out]
        self(f'"""{out[0]}', *out[1:])
        return self('"""')

    def extend(self, lines: list[str]) -> "Code":
        return self(*lines)

    def text(self) -> str:
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(line.rstrip() for line in self.lines) + "\n"


def section(code: Code, title: str) -> None:
    """Two blank lines and a ``# ---- title ----`` rule, as the sections of an emitted file."""
    code.blank(2)
    rule = f"# ---- {title} "
    code(rule + "-" * max(4, LINE_LENGTH - len(rule)))
    code.blank(2)
