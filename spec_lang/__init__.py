"""The nnspec spec language: grammar, parser, AST with source spans, and diagnostics.

This package knows nothing of layers or training: it reads a spec's text within limits
(`read_source`: regular files or stdin, at most 4 MiB, UTF-8), turns it into an AST (`parse`,
linear in the text) and renders errors that point at the source (`Diagnostic`).
"""

from spec_lang.ast import Module
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.parser import parse, parse_file
from spec_lang.reading import read_source
from spec_lang.span import Source, Span

__all__ = ["Diagnostic", "Module", "Source", "SpecError", "Span", "parse", "parse_file", "read_source"]
