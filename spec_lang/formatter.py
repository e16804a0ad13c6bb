"""The canonical formatter behind ``nnspec fmt``: one spec, one layout.

``format_source(text)`` parses a spec and prints it back in the single canonical
format; ``format_module(module)`` does the printing for an already parsed
``ast.Module``.  The output parses back to the same tree, keeps every comment, and
formatting it again changes nothing.

Canonical format
----------------
Layout
    * 4-space indentation; one statement / layer / setting per line.
    * ``{`` ends the line of ``model NAME``, ``block NAME(params)``, ``train``,
      ``repeat N``, ``residual``, ``parallel Merge(args)`` and ``branch``; ``}`` stands on
      its own line, except that ``} shortcut {`` shares one.  Bodies (``repeat``,
      ``residual``, ``branch`` included) are always multi-line; an empty body is ``{``
      then ``}`` on the next line.
    * Graph lines: ``name = Kind(args)``, ``output name = Kind(args)``, explicit inputs
      ``Kind(args)(a, b)`` (``, `` between them, no trailing comma); ``name =`` and
      ``output name =`` may stand before a ``residual`` or a ``parallel`` too.

Blank lines
    * Top level: exactly one blank line between statements, except that
      consecutive constant definitions stay together, separated by one blank line
      only where the source had blank line(s) between them.
    * Inside a body or ``train``: one blank line where the source had one or more
      between two items (or comments), none otherwise; never right after ``{``
      or right before ``}``.  Inside calls and lists: no blank lines.
    * No trailing whitespace; the file ends with exactly one newline (an empty
      spec formats to the empty string).

Values
    * Calls ``Name(a, b, key=value)``: ``, `` between arguments, no spaces
      around a keyword argument's ``=``, no trailing comma on one line.
    * ``name = value`` for constants and train settings; ``name=default`` for
      block parameters.
    * Lists ``[1, 2, 3]``; tuples ``(a, b)``, the 1-tuple ``(a,)``; dicts ``{a: 1, "b c": 2}`` (``: `` after
      each key, a key written as a string stays a string); the empty dict ``{}``.
    * Strings in double quotes, escaping ``"``, ``\\``, newline and tab.
    * Booleans ``true`` / ``false``.
    * Numbers keep their source text, except that the exponent is lower case and
      loses a ``+`` sign: ``1E+3`` -> ``1e3``.
    * Binary operators have one space on each side, except ``**`` (``2**8``).
      Parentheses appear only where precedence needs them.  From loosest to
      tightest: ``+ -``, ``* / // %``, unary ``- +``, ``**``.  ``**`` is
      right-associative and its left operand must be an atom (``-2**2`` is
      ``-(2**2)``, ``(-2)**2`` keeps its parentheses, ``2**-1`` needs none); the
      other operators are left-associative (``a - (b - c)``).

Line breaking
    * A line longer than 88 characters (indentation and trailing comment
      included) explodes its call / list / tuple (and a block header its
      parameter list): one element per line, indented one level more, each
      followed by a comma, the closing bracket on its own line at the
      indentation of the line that opened it.  Elements are formatted the same
      way, so a nested call explodes too if its line is still too long.
    * A call / list / tuple / parameter list with a comment anywhere inside it
      is always exploded.  An empty one is never exploded unless a comment is
      inside it.  Other long lines (e.g. long arithmetic) are left as they are.

Comments (never lost)
    A comment belongs to the innermost *container* (the file, a body, ``train``,
    a call, a list, a tuple, a parameter list) whose brackets enclose it; the
    container's *items* are its statements, layers, settings, arguments,
    elements or parameters.

    * A trailing comment (code before it on its line) stays at the end of the
      line of the last item of its container that ends on that line, two spaces
      after it (after the comma in an exploded call, after ``}`` for a
      statement with a body).
    * An own-line comment, or a trailing comment with no item ending on its line
      (``model m {  # note``), goes on its own line before the first item that
      starts after it, at that item's indentation — except a ``# nnspec:``
      directive (``spec_lang.directives``) after the bracket that opens a
      container (``train {  # nnspec: ignore[...]``, ``Dense(  # nnspec: ...``),
      which stays at the end of that line: it applies to its line.
    * A comment in the middle of an item that cannot hold comments (e.g. inside
      ``1 +  # c`` ... ``2``) goes on its own line before that item.
    * A comment after the last item of a container goes on its own line before
      the closing bracket, at the inner indentation; at the end of the file it
      stays at the end.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterator

from spec_lang import ast
from spec_lang.directives import is_directive
from spec_lang.parser import parse, paused_gc
from spec_lang.span import Span

__all__ = ["LINE_LIMIT", "INDENT", "format_expr", "format_module", "format_source"]

LINE_LIMIT = 88
INDENT = "    "

Pos = tuple[int, int]

# Binding strength of each operator; unary minus/plus sits at 3, atoms at 5.
_BINARY_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}
_UNARY_PREC = 3
_ATOM_PREC = 5


def format_source(text: str, path: str = "<string>") -> str:
    """Parse spec ``text`` and return it in canonical format (``SpecError`` if it does not parse).

    Time and memory are linear in the size of the text (``benchmarks/bench_check.py`` measures it).
    """
    module = parse(text, path)
    with paused_gc():  # many small acyclic objects; see spec_lang.parser.paused_gc
        return format_module(module)


def format_module(module: ast.Module) -> str:
    """Return the canonical text of a parsed spec, comments included."""
    return _Formatter(module).format()


def format_expr(expr: ast.Expr) -> str:
    """An expression's canonical text on one line, as ``fmt`` writes it when it fits (comments aside)."""
    return _flat(expr)


# ---- flat (single-line) rendering ------------------------------------------
_EXPONENT = re.compile(r"[eE]\+?")


def _number(text: str) -> str:
    """Number text with a lower-case exponent and no ``+`` in it."""
    return _EXPONENT.sub("e", text) if "e" in text or "E" in text else text


def _string(value: str) -> str:
    """A double-quoted string literal that the parser reads back as ``value``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.BinOp):
        return _BINARY_PREC[e.op]
    if isinstance(e, ast.Unary):
        return _UNARY_PREC
    return _ATOM_PREC


def _paren_needs(e: ast.BinOp | ast.Unary) -> tuple[bool, bool]:
    """Whether the (left, right) operands of ``e`` need parentheses (``right`` only for BinOp)."""
    if isinstance(e, ast.Unary):
        return _prec(e.operand) < _UNARY_PREC, False
    if e.op == "**":  # power: atom "**" unary
        min_left, min_right = _ATOM_PREC, _UNARY_PREC
    else:  # left-associative: the right operand must bind strictly tighter
        min_left = _BINARY_PREC[e.op]
        min_right = min_left + 1
    return _prec(e.left) < min_left, _prec(e.right) < min_right


def _op_text(op: str) -> str:
    return op if op == "**" else f" {op} "


def _wrap(text: str, parens: bool) -> str:
    return f"({text})" if parens else text


def _flat(e) -> str:
    """``e`` (an expression, ``Arg`` or ``Param``) on one line, comments ignored."""
    if isinstance(e, ast.Number):
        return _number(e.text)
    if isinstance(e, ast.String):
        return _string(e.value)
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.ListExpr):
        return "[" + ", ".join(map(_flat, e.items)) + "]"
    if isinstance(e, ast.TupleExpr):
        return "(" + ", ".join(map(_flat, e.items)) + ("," if len(e.items) == 1 else "") + ")"
    if isinstance(e, ast.DictExpr):
        return "{" + ", ".join(map(_flat, e.items)) + "}"
    if isinstance(e, ast.DictItem):
        return (_string(e.key) if e.quoted else e.key) + ": " + _flat(e.value)
    if isinstance(e, ast.Call):
        return f"{e.func}(" + ", ".join(map(_flat, e.args)) + ")"
    if isinstance(e, ast.Arg):
        return _flat(e.value) if e.name is None else f"{e.name}={_flat(e.value)}"
    if isinstance(e, ast.Param):
        return e.name if e.default is None else f"{e.name}={_flat(e.default)}"
    if isinstance(e, ast.BinOp):
        left, right = _paren_needs(e)
        return _wrap(_flat(e.left), left) + _op_text(e.op) + _wrap(_flat(e.right), right)
    if isinstance(e, ast.Unary):
        return e.op + _wrap(_flat(e.operand), _paren_needs(e)[0])
    raise TypeError(f"cannot format {type(e).__name__}")


# ---- containers and comment attachment --------------------------------------
def _start(span: Span) -> Pos:
    return (span.line, span.column)


def _end(span: Span) -> Pos:
    return (span.end_line, span.end_column)


@dataclass(frozen=True)
class _Box:
    """A container that comments can sit in: its key, its inside (exclusive) and its items."""

    key: object
    start: Pos
    end: Pos
    items: tuple

    def encloses(self, pos: Pos) -> bool:
        return self.start < pos < self.end


def _expression_keys(e) -> Iterator[int]:
    """The keys of the containers directly inside expression ``e``, as ``_boxes_in`` gives them
    (without building the boxes: this runs for every expression the formatter prints)."""
    if isinstance(e, (ast.Call, ast.ListExpr, ast.TupleExpr, ast.DictExpr)):
        yield id(e)
    elif isinstance(e, ast.BinOp):
        yield from _expression_keys(e.left)
        yield from _expression_keys(e.right)
    elif isinstance(e, ast.Unary):
        yield from _expression_keys(e.operand)


def _params_key(block: ast.BlockDef) -> object:
    return ("params", id(block))


def _inputs_key(wired: ast.Wired) -> object:
    return ("inputs", id(wired))


def _boxes_in(node) -> Iterator[_Box]:
    """The containers directly inside ``node`` (not those nested in them), ``node`` included."""
    if isinstance(node, ast.Call):
        yield _Box(id(node), _start(node.span), _end(node.span), node.args)
    elif isinstance(node, (ast.ListExpr, ast.TupleExpr, ast.DictExpr)):
        yield _Box(id(node), _start(node.span), _end(node.span), node.items)
    elif isinstance(node, ast.Body):
        yield _Box(id(node), _start(node.span), _end(node.span), node.items)
    elif isinstance(node, ast.TrainDef):
        yield _Box(id(node), _start(node.span), _end(node.span), node.settings)
    elif isinstance(node, ast.ModelDef):
        yield from _boxes_in(node.body)
    elif isinstance(node, ast.BlockDef):
        yield _Box(_params_key(node), _end(node.name_span), _start(node.body.span), node.params)
        yield from _boxes_in(node.body)
    elif isinstance(node, ast.Repeat):
        yield from _boxes_in(node.count)
        yield from _boxes_in(node.body)
    elif isinstance(node, ast.Named):
        yield from _boxes_in(node.stmt)
    elif isinstance(node, ast.Wired):
        yield from _boxes_in(node.call)
        yield _Box(_inputs_key(node), _end(node.call.span), _end(node.span), node.inputs)
    elif isinstance(node, ast.Residual):
        yield from _boxes_in(node.body)
        if node.shortcut is not None:
            yield from _boxes_in(node.shortcut)
    elif isinstance(node, ast.Parallel):
        yield from _boxes_in(node.merge)
        yield _Box(id(node), _start(node.inner_span), _end(node.inner_span), node.branches)
    elif isinstance(node, ast.Branch):
        yield from _boxes_in(node.body)
    elif isinstance(node, (ast.ConstDef, ast.Setting, ast.Arg, ast.DictItem)):
        yield from _boxes_in(node.value)
    elif isinstance(node, ast.Param) and node.default is not None:
        yield from _boxes_in(node.default)
    elif isinstance(node, ast.BinOp):
        yield from _boxes_in(node.left)
        yield from _boxes_in(node.right)
    elif isinstance(node, ast.Unary):
        yield from _boxes_in(node.operand)


@dataclass
class _Entry:
    """One printed element of a statement sequence: a comment line or an item."""

    first_line: int  # source lines, for blank-line decisions
    last_line: int
    text: str
    item: object | None  # the item this entry belongs to; None for a dangling comment
    opens_group: bool  # first entry printed for its item (or a dangling comment)


@dataclass
class _Formatter:
    """Attaches the module's comments to items, then prints the module."""

    module: ast.Module
    leading: dict = field(default_factory=lambda: defaultdict(list))  # id(item) -> [Comment]
    trailing: dict = field(default_factory=dict)  # id(item) -> Comment
    opening: dict = field(default_factory=dict)  # box key -> a directive ending the line of its opening bracket
    dangling: dict = field(default_factory=lambda: defaultdict(list))  # box key -> [Comment]
    touched: set = field(default_factory=set)  # keys of boxes with a comment inside

    def __post_init__(self) -> None:
        self.root = _Box("module", (0, 0), (float("inf"), 0), self.module.statements)
        self.comment_lines = {c.line for c in self.module.comments}
        self._bounds: dict = {}  # box key -> (starts, ends) of its items, for bisection
        for comment in sorted(self.module.comments, key=lambda c: (c.line, c.column)):
            self._attach(comment)

    def _item_bounds(self, box: _Box) -> tuple[list[Pos], list[Pos]]:
        """The start and end positions of ``box``'s items, in source order (items never overlap)."""
        bounds = self._bounds.get(box.key)
        if bounds is None:
            bounds = self._bounds[box.key] = ([_start(it.span) for it in box.items], [_end(it.span) for it in box.items])
        return bounds

    def _attach(self, comment: ast.Comment) -> None:
        """Record where ``comment`` is printed (see the module docstring).

        The items around the comment are found by bisection, O(log n) per comment and nesting
        level: a spec with many comments formats in time linear in its size.
        """
        pos = (comment.line, comment.column)
        box = self.root
        while True:
            self.touched.add(box.key)
            starts, ends = self._item_bounds(box)
            i = bisect_left(starts, pos)  # box.items[:i] start before the comment
            holder = box.items[i - 1] if i and pos < ends[i - 1] else None  # the item the comment is inside
            inner = next((b for b in _boxes_in(holder) if b.encloses(pos)), None) if holder is not None else None
            if inner is None:
                break
            box = inner
        if not comment.own_line:
            j = bisect_right(ends, pos) - 1  # the last item that ends before the comment
            if j >= 0 and box.items[j].span.end_line == comment.line:
                self.trailing[id(box.items[j])] = comment
                return
            if is_directive(comment.text) and box.start[0] == comment.line and box.key not in self.opening \
                    and i == 0:
                self.opening[box.key] = comment
                return
        target = holder if holder is not None else box.items[i] if i < len(box.items) else None
        if target is not None:
            self.leading[id(target)].append(comment)
        else:
            self.dangling[box.key].append(comment)

    # ---- statement sequences (file, bodies, train) ----------------------------
    def format(self) -> str:
        lines = self._sequence(self.root.key, self.module.statements, 0, self._statement, top_level=True)
        return "\n".join(lines) + "\n" if lines else ""

    def _sequence(self, key, items, indent: int, render: Callable, top_level: bool = False) -> list[str]:
        """The lines of ``items`` one per line, with their comments and blank lines."""
        pad = INDENT * indent
        entries: list[_Entry] = []
        for item in items:
            leading = self.leading[id(item)]
            for i, c in enumerate(leading):
                entries.append(_Entry(c.line, c.line, pad + c.text, item, i == 0))
            trailing = self.trailing.get(id(item))
            suffix = f"  {trailing.text}" if trailing else ""
            text = render(item, indent, len(suffix)) + suffix
            entries.append(_Entry(item.span.line, item.span.end_line, text, item, not leading))
        for c in self.dangling[key]:
            entries.append(_Entry(c.line, c.line, pad + c.text, None, True))

        comment_lines, item_lines = self.comment_lines, set()  # not a copy of comment_lines per sequence
        for item in items:
            item_lines.update(range(item.span.line, item.span.end_line + 1))
        lines: list[str] = []
        prev: _Entry | None = None
        for entry in entries:
            if prev is not None:
                gap = range(prev.last_line + 1, entry.first_line)
                blank = any(line not in comment_lines and line not in item_lines for line in gap)
                if top_level and entry.opens_group and entry.item is not None:
                    both_consts = isinstance(prev.item, ast.ConstDef) and isinstance(entry.item, ast.ConstDef)
                    blank = blank or not both_consts
                if blank:
                    lines.append("")
            lines.append(entry.text)
            prev = entry
        return lines

    def _braced(self, head: str, key, items, indent: int, render: Callable) -> str:
        """``head {``, the items one level deeper, then ``}``."""
        inner = self._sequence(key, items, indent + 1, render)
        return "\n".join([head + " {" + self._opening_comment(key), *inner, INDENT * indent + "}"])

    def _opening_comment(self, key) -> str:
        """The directive that ends the line of container ``key``'s opening bracket, as a suffix."""
        comment = self.opening.get(key)
        return f"  {comment.text}" if comment else ""

    def _statement(self, stmt: ast.Statement, indent: int, tail: int) -> str:
        pad = INDENT * indent
        if isinstance(stmt, ast.ConstDef):
            return self._assignment(stmt.name, stmt.value, indent, tail)
        if isinstance(stmt, ast.ModelDef):
            return self._braced(f"{pad}model {stmt.name}", id(stmt.body), stmt.body.items, indent, self._layer)
        if isinstance(stmt, ast.TrainDef):
            return self._braced(f"{pad}train", id(stmt), stmt.settings, indent, self._setting)
        return self._braced(self._block_head(stmt, indent), id(stmt.body), stmt.body.items, indent, self._layer)

    def _block_head(self, block: ast.BlockDef, indent: int) -> str:
        """``block name(params)``, the parameters exploded if too long or commented."""
        head = f"{INDENT * indent}block {block.name}("
        key = _params_key(block)
        flat = ", ".join(map(_flat, block.params))
        if key not in self.touched and len(head) + len(flat) + len(") {") <= LINE_LIMIT:
            return head + flat + ")"
        return self._exploded(head, block.params, key, ")", indent, self._param)

    def _layer(self, layer: ast.LayerStmt, indent: int, tail: int) -> str:
        pad = INDENT * indent
        if isinstance(layer, ast.Call):
            return pad + self._expr(layer, indent, len(pad), tail)
        if isinstance(layer, ast.Repeat):
            head = pad + "repeat " + self._expr(layer.count, indent, len(pad) + len("repeat "), len(" {"))
            return self._braced(head, id(layer.body), layer.body.items, indent, self._layer)
        if isinstance(layer, ast.Named):
            return self._unit(layer.stmt, indent, pad + ("output " if layer.output else "") + layer.name + " = ", tail)
        return self._unit(layer, indent, pad, tail)

    def _unit(self, unit: ast.Unit, indent: int, head: str, tail: int) -> str:
        """A layer line, a line with its inputs, a residual or a parallel, after ``head`` (its indentation,
        and ``name = `` if it is named)."""
        if isinstance(unit, ast.Call):
            return head + self._expr(unit, indent, len(head), tail)
        if isinstance(unit, ast.Wired):
            key = _inputs_key(unit)
            names = ", ".join(n.id for n in unit.inputs)
            if key in self.touched:
                inputs = self._exploded("(", unit.inputs, key, ")", indent, lambda n, *_: n.id)
            else:
                inputs = f"({names})"
            call = self._expr(unit.call, indent, len(head), len(inputs) + tail if "\n" not in inputs else 1)
            return head + call + inputs
        if isinstance(unit, ast.Residual):
            text = self._braced(head + "residual", id(unit.body), unit.body.items, indent, self._layer)
            if unit.shortcut is not None:
                text += " " + self._braced("shortcut", id(unit.shortcut), unit.shortcut.items, indent, self._layer)
            return text
        if isinstance(unit, ast.Parallel):
            head += "parallel "
            head += self._expr(unit.merge, indent, len(head), len(" {"))
            return self._braced(head, id(unit), unit.branches, indent, self._branch)
        raise TypeError(f"cannot format {type(unit).__name__}")

    def _branch(self, branch: ast.Branch, indent: int, tail: int) -> str:
        return self._braced(INDENT * indent + "branch", id(branch.body), branch.body.items, indent, self._layer)

    def _setting(self, setting: ast.Setting, indent: int, tail: int) -> str:
        return self._assignment(setting.name, setting.value, indent, tail)

    def _assignment(self, name: str, value: ast.Expr, indent: int, tail: int) -> str:
        head = f"{INDENT * indent}{name} = "
        return head + self._expr(value, indent, len(head), tail)

    # ---- expressions ----------------------------------------------------------
    def _has_comment(self, e) -> bool:
        """Whether a comment sits inside a container of expression ``e``."""
        if len(self.touched) <= 1:  # no comment inside any bracket (the file itself is always touched)
            return False
        return any(key in self.touched for key in _expression_keys(e))

    def _expr(self, e: ast.Expr, indent: int, col: int, tail: int) -> str:
        """``e`` starting at column ``col`` of a line at ``indent`` with ``tail`` characters after it."""
        flat = _flat(e)
        if not self._has_comment(e) and col + len(flat) + tail <= LINE_LIMIT:
            return flat
        if isinstance(e, ast.Call) and (e.args or self.dangling[id(e)]):
            return self._exploded(e.func + "(", e.args, id(e), ")", indent, self._arg)
        if isinstance(e, ast.ListExpr) and (e.items or self.dangling[id(e)]):
            return self._exploded("[", e.items, id(e), "]", indent, self._expr)
        if isinstance(e, ast.TupleExpr):
            return self._exploded("(", e.items, id(e), ")", indent, self._expr)
        if isinstance(e, ast.DictExpr) and (e.items or self.dangling[id(e)]):
            return self._exploded("{", e.items, id(e), "}", indent, self._dict_item)
        if isinstance(e, ast.BinOp):
            paren_left, paren_right = _paren_needs(e)
            op = _op_text(e.op)
            left = _wrap(self._expr(e.left, indent, col + paren_left, paren_left + len(op)), paren_left)
            col = _column_after(col, left + op)
            right = self._expr(e.right, indent, col + paren_right, tail + paren_right)
            return left + op + _wrap(right, paren_right)
        if isinstance(e, ast.Unary):
            paren = _paren_needs(e)[0]
            return e.op + _wrap(self._expr(e.operand, indent, col + 1 + paren, tail + paren), paren)
        return flat

    def _arg(self, arg: ast.Arg, indent: int, col: int, tail: int) -> str:
        if arg.name is None:
            return self._expr(arg.value, indent, col, tail)
        return f"{arg.name}=" + self._expr(arg.value, indent, col + len(arg.name) + 1, tail)

    def _dict_item(self, item: ast.DictItem, indent: int, col: int, tail: int) -> str:
        key = (_string(item.key) if item.quoted else item.key) + ": "
        return key + self._expr(item.value, indent, col + len(key), tail)

    def _param(self, param: ast.Param, indent: int, col: int, tail: int) -> str:
        if param.default is None:
            return param.name
        return f"{param.name}=" + self._expr(param.default, indent, col + len(param.name) + 1, tail)

    def _exploded(self, opening: str, items, key, closing: str, indent: int, render: Callable) -> str:
        """``opening``, one item per line (with comments) one level deeper, then ``closing``."""
        pad = INDENT * (indent + 1)
        lines = [opening + self._opening_comment(key)]
        for item in items:
            lines.extend(pad + c.text for c in self.leading[id(item)])
            trailing = self.trailing.get(id(item))
            suffix = "," + (f"  {trailing.text}" if trailing else "")
            lines.append(pad + render(item, indent + 1, len(pad), len(suffix)) + suffix)
        lines.extend(pad + c.text for c in self.dangling[key])
        lines.append(INDENT * indent + closing)
        return "\n".join(lines)


def _column_after(col: int, text: str) -> int:
    """The column reached after writing ``text`` from column ``col``."""
    return len(text) - text.rfind("\n") - 1 if "\n" in text else col + len(text)
