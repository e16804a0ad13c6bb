"""The one error a command that needs a concrete spec gives for a search space (``nnspec train``, ``equiv``,
``emit``, ``diagnose``, ``lr-find``, ``compile``): at the first dimension written in the spec, pointing to
``nnspec search`` and ``nnspec fix``. ``nnspec check`` and ``nnspec fmt`` take a space and never ask this.
"""

from __future__ import annotations

import re

from compiler.space.dimensions import DIMENSION_FUNCTIONS
from compiler.space.walk import dimension_calls
from spec_lang import ast
from spec_lang.diagnostics import Diagnostic

# Text that may write a dimension: a plain spec without any of these names skips the walk over its AST.
_MAY_HOLD = re.compile(r"\b(?:" + "|".join(DIMENSION_FUNCTIONS) + r")\s*\(")


def first_dimension(module: ast.Module) -> ast.Call | ast.Repeat | None:
    """The first dimension call written in ``module`` (in source order), or None for a plain spec."""
    roots: list = []
    for stmt in module.statements:
        if isinstance(stmt, ast.ConstDef):
            roots.append(stmt.value)
        elif isinstance(stmt, ast.BlockDef):
            roots.extend([*(p.default for p in stmt.params if p.default is not None), stmt.body])
        elif isinstance(stmt, ast.ModelDef):
            roots.append(stmt.body)
        else:
            roots.extend(s.value for s in stmt.settings)
    calls = dimension_calls(roots)
    return min(calls, key=lambda c: (c.span.line, c.span.column)) if calls else None


def search_space_refusal(module: ast.Module, text: str) -> Diagnostic | None:
    """The error for compiling ``module`` (parsed from ``text``) as a concrete spec when it is a search space;
    None for a plain spec. Linear in the text; a spec that names no dimension function is not walked."""
    if _MAY_HOLD.search(text) is None:
        return None
    call = first_dimension(module)
    if call is None:
        return None
    return Diagnostic("error", f"this spec is a search space ({call.func}(...) is a search dimension), and this "
                      "command needs a concrete spec", call.span,
                      "search it with `nnspec search SPEC`, or write one of its points as a spec with "
                      "`nnspec fix SPEC --params FILE`")
