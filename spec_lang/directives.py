"""Directive comments: comments that start with ``# nnspec:`` speak to nnspec about their line or file.

The language gives them no meaning (``compiler.passes.suppressions`` reads ``# nnspec: ignore[...]``
and ``# nnspec: ignore-file[...]``); the formatter keeps each one on the line it was written on,
since that line is what it applies to.
"""

from __future__ import annotations

import re

DIRECTIVE = re.compile(r"#\s*nnspec\s*:", re.IGNORECASE)


def is_directive(comment_text: str) -> bool:
    """True when the comment (its text, ``#`` included) is a ``# nnspec:`` directive."""
    return DIRECTIVE.match(comment_text) is not None
