"""A small LALR(1) driver over the parse table that Lark builds from ``grammar.lark``.

Lark computes the table (and caches it on disk); this module runs it: one loop over the tokens,
explicit stacks (no recursion, whatever the nesting), and one callback per rule that builds the
AST node directly, with no parse tree in between. With the AST built, it takes about a third of
the time Lark's own driver takes to build a parse tree with ``propagate_positions``, and it is
linear in the number of tokens.

What a callback receives follows Lark's tree-building rules:

* ``?rule`` alternatives of one child without an alias pass that child through (no callback);
* ``__rule`` helpers (from ``x*`` and ``x+``) are spliced into their parent as a flat list;
* anonymous string tokens (``"("``, ``","``, keywords) are left out;
* the position of a node runs from its first token to its last, punctuation included.

Syntax errors follow Lark's ``on_error`` recovery: the unexpected token is reported with the
terminals the parser could accept there, dropped, and parsing goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from spec_lang.lexer import Token
from spec_lang.records import Record, record

END = "$END"
# How a rule is reduced: a one-child ``?rule`` (only the state changes), a ``__helper`` (spliced into its
# parent), a node (a callback, one level of nesting), a transparent rule (a callback, no level), and a
# node of one child kept as it is (a number, a name: replaced on the stack in place).
_UNIT, _INLINE, _NODE, _PASS, _LEAF = range(5)
_ERROR = -(2**62)  # in ``parse``'s table: no action for this terminal in this state
_FIRST = frozenset({0})


@record
class SyntaxProblem(Record):
    """An unexpected token (``token.type == "$END"`` at the end of the text), what could stand there,
    and the innermost opening bracket still unclosed at that point (None if none is)."""

    token: Token
    expected: frozenset[str]
    open_bracket: Token | None = None


@dataclass
class ParseOutcome:
    """The value of the start rule (None after a syntax error), the errors, and the first node that
    nests deeper than the limit (its position), if any."""

    value: Any = None
    problems: list[SyntaxProblem] = field(default_factory=list)
    too_deep: tuple | None = None


class LalrDriver:
    """Runs the LALR(1) table of a Lark grammar (``parser="lalr"``) over a list of tokens (tuples in the
    layout of ``Token``, as the lexer makes them).

    ``transparent`` names rules that return their child (``paren``): they add no nesting level.
    ``brackets`` maps an opening bracket's terminal to its closing one (``{"LPAR": "RPAR"}``).
    """

    def __init__(self, lark, start: str = "start", transparent: frozenset[str] = frozenset(),
                 brackets: dict[str, str] | None = None):
        self.brackets = dict(brackets or {})
        self.closers = {close: open_ for open_, close in self.brackets.items()}
        table = lark.parser.parser.parser.parse_table
        self.start_state = table.start_states[start]
        self.end_state = table.end_states[start]
        self.rule_names: list[str] = []
        reductions: dict[int, tuple] = {}
        for rule in lark.rules:
            if id(rule) in reductions:
                continue
            exp = rule.expansion
            origin = rule.origin.name
            name = rule.alias or origin
            if rule.options.expand1 and not rule.alias and len(exp) == 1:
                kind = _UNIT
            elif origin.startswith("_"):
                kind = _INLINE
            elif name in transparent:
                kind = _PASS
            else:
                kind = _NODE
            keep = tuple(i for i, s in enumerate(exp) if not (s.is_term and s.filter_out))
            splice = frozenset(i for i, s in enumerate(exp) if not s.is_term and s.name.startswith("_"))
            if keep == tuple(range(len(exp))) and not splice:
                keep = None  # the children as they are
                if kind == _NODE and len(exp) == 1:
                    kind = _LEAF
            index = len(self.rule_names)
            self.rule_names.append(name)
            # The children that can be nested (rules, not tokens): a node's height is one more than theirs.
            rises = tuple(i for i, s in enumerate(exp) if not s.is_term)
            reductions[id(rule)] = (len(exp), origin, kind, index, keep, splice, rises)
        # The state after a chain of one-child reductions: _unit_chains[top][terminal][below], filled as met.
        self._unit_chains: dict[int, dict[str, dict[int, int]]] = {}
        self.actions: dict[int, dict[str, Any]] = {}
        self.gotos: dict[int, dict[str, int]] = {}
        for state, acts in table.states.items():
            terminals, gotos = {}, {}
            for sym, (action, arg) in acts.items():
                if action.name == "Shift":
                    (terminals if sym.isupper() else gotos)[sym] = arg
                else:
                    terminals[sym] = reductions[id(arg)]
            self.actions[state], self.gotos[state] = terminals, gotos
        # The same table for ``parse``, indexed by state: a shift is the next state (>= 0), a reduction
        # ~i (< 0) for ``self._reductions[i]``, and an error a missing terminal.
        self._reductions: list[tuple] = []
        numbers: dict[tuple, int] = {}
        self._rows: list[dict[str, int]] = [{} for _ in range(max(self.actions) + 1)]
        self._goto_rows: list[dict[str, int]] = [{} for _ in range(max(self.gotos) + 1)]
        for state, terminals in self.actions.items():
            for sym, act in terminals.items():
                if act.__class__ is not int:
                    if act not in numbers:
                        numbers[act] = len(self._reductions)
                        self._reductions.append(act)
                    act = ~numbers[act]
                self._rows[state][sym] = act
        for state, gotos in self.gotos.items():
            self._goto_rows[state] = gotos

    def parse(self, tokens: list[tuple], end: tuple, callbacks: list[Callable], max_errors: int,
              max_nesting: int) -> ParseOutcome:
        """Parse ``tokens`` then ``end`` (a ``$END`` token); ``callbacks[i]`` builds rule ``rule_names[i]``
        from its kept children and its position ``(line, column, end_line, end_column)``.

        Stops at the end, or after ``max_errors`` syntax errors. Notes (in ``too_deep``) the first node
        whose subtree is more than ``max_nesting`` nodes high; transparent rules and tokens add no level.
        """
        rows, gotos, reductions = self._rows, self._goto_rows, self._reductions
        end_state, unit_chains = self.end_state, self._unit_chains
        # Four stacks side by side, as lists made once and a top index: entry i holds the state, the value
        # (a token or what a callback built), its position and its height. Entry 0 is the start state alone.
        # One entry per token shifted, and at most one per state for empty rules reduced before the next shift.
        size = len(tokens) + len(self.actions) + 2
        states: list[int] = [self.start_state] * size
        values: list[Any] = [None] * size
        poss: list[Any] = [None] * size
        heights: list[int] = [0] * size
        sp = 0  # the top entry
        out = ParseOutcome()
        top = self.start_state  # always states[sp]
        for tok in [*tokens, end]:
            ttype = tok[4]  # tok.type
            while True:
                try:
                    act = rows[top][ttype]
                except KeyError:
                    act = _ERROR
                if act >= 0:  # shift
                    sp += 1
                    states[sp] = top = act
                    values[sp] = poss[sp] = tok
                    heights[sp] = 0
                    break
                if act == _ERROR:
                    expected = self._accepts(states[:sp + 1]) or self._expected(states[:sp + 1])
                    out.problems.append(SyntaxProblem(Token(*tok), expected, self._open_bracket(values[1:sp + 1])))
                    if ttype == END or len(out.problems) >= max_errors:
                        return out
                    break  # drop the token, as Lark's on_error recovery does
                n, origin, kind, index, keep, splice, rises = reductions[~act]
                if kind == _UNIT:  # a chain of one-child rules only changes the top state
                    below = states[sp - 1]
                    try:
                        chained = unit_chains[top][ttype][below]
                    except KeyError:
                        chained = self._unit_chain(below, top, ttype)
                        unit_chains.setdefault(top, {}).setdefault(ttype, {})[below] = chained
                    states[sp] = top = chained
                    continue
                if kind == _LEAF:  # a leaf (a number, a name): replaced in place
                    values[sp] = callbacks[index]([values[sp]], poss[sp])
                    height = heights[sp] = heights[sp] + 1
                    if height > max_nesting and out.too_deep is None:
                        out.too_deep = poss[sp]
                    states[sp] = top = gotos[states[sp - 1]][origin]
                    continue
                if n:
                    base = sp - n + 1
                    first, last = poss[base], poss[sp]
                    pos = (first[0], first[1], last[2], last[3])
                    if not rises:
                        height = 0
                    elif len(rises) == 1:
                        height = heights[base + rises[0]]
                    elif len(rises) == 2:
                        height, other = heights[base + rises[0]], heights[base + rises[1]]
                        if other > height:
                            height = other
                    else:
                        height = max([heights[base + i] for i in rises])
                    sp = base - 1
                else:
                    base, pos, height = sp + 1, None, 0
                if keep is None:  # every child kept, none spliced
                    items = values[base:base + n]
                elif not splice:
                    if len(keep) == 2:  # name=value, f(x): the commonest
                        items = [values[base + keep[0]], values[base + keep[1]]]
                    else:
                        items = [values[base + i] for i in keep]
                elif kind == _INLINE and keep[0] == 0 and len(keep) == 2 and splice == _FIRST:
                    # A left-recursive helper (x*: x* "," item) grows its own list in place: linear.
                    items = values[base]
                    items.append(values[base + keep[1]])
                else:
                    items = values[base] if kind == _INLINE and 0 in splice else []
                    for i in keep:
                        child = values[base + i]
                        if i in splice:
                            if child is not items:
                                items.extend(child)
                        else:
                            items.append(child)
                if kind == _INLINE:
                    value = items
                else:
                    value = callbacks[index](items, pos)
                    if kind == _NODE:
                        height += 1
                        if height > max_nesting and out.too_deep is None:
                            out.too_deep = pos
                sp += 1
                states[sp] = top = gotos[states[sp - 1]][origin]
                values[sp] = value
                poss[sp] = pos
                heights[sp] = height
                if ttype == END and top == end_state:
                    if not out.problems:
                        out.value = value
                    return out
        return out  # pragma: no cover - $END always ends the loop

    def _unit_chain(self, below: int, top: int, terminal: str) -> int:
        """The top state after every one-child reduction that ``terminal`` triggers from ``top`` (above ``below``)."""
        while True:
            act = self.actions[top].get(terminal)
            if act is None or act.__class__ is int or act[2] != _UNIT:
                return top
            top = self.gotos[below][act[1]]

    def _open_bracket(self, values: list[Any]) -> Token | None:
        """The innermost opening bracket token on the stack that no closing one after it matches."""
        pending: list[str] = []
        for value in reversed(values):
            if value.__class__ is not tuple:  # not a token: a node, or a list of them
                continue
            if value[4] in self.closers:
                pending.append(value[4])
            elif value[4] in self.brackets:
                if not pending:
                    return Token(*value)
                pending.pop()
        return None

    def _expected(self, states: list[int]) -> frozenset[str]:
        return frozenset(self.actions[states[-1]])

    def _accepts(self, states: list[int]) -> frozenset[str]:
        """The terminals that would be shifted (after any reductions) from this stack, as Lark's
        ``InteractiveParser.accepts``; the stack is not copied, only what reductions push."""
        return frozenset(t for t in self.actions[states[-1]] if self._would_shift(states, t))

    def _would_shift(self, states: list[int], terminal: str) -> bool:
        depth, pushed = len(states), []
        while True:
            act = self.actions[pushed[-1] if pushed else states[depth - 1]].get(terminal)
            if act is None:
                return False
            if act.__class__ is int:
                return True
            n, origin = act[0], act[1]
            from_pushed = min(n, len(pushed))
            del pushed[len(pushed) - from_pushed:]
            depth -= n - from_pushed
            state = self.gotos[pushed[-1] if pushed else states[depth - 1]][origin]
            if terminal == END and state == self.end_state:
                return True
            pushed.append(state)


