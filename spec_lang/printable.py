"""Text from a user's files or a storage, made safe for one line of a message, a table cell or a terminal."""

from __future__ import annotations


def printable(text, width: int = 200) -> str:
    """``str(text)`` for one line: control characters (ANSI escapes, line breaks, NULs) escaped as ``\\x1b``,
    ``\\n``, at most ``width`` characters (the last one then ``…``)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[: width + 1])
    return text if len(text) <= width else text[: width - 1] + "…"
