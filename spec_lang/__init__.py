"""The nnspec spec language: grammar, parser, AST with source spans, and diagnostics.

This package knows nothing of layers or training: it turns text into an AST
(`parse`) and renders errors that point at the source (`Diagnostic`).
"""

from spec_lang.ast import Module
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.parser import parse, parse_file, read_source
from spec_lang.span import Source, Span

__all__ = ["Diagnostic", "Module", "Source", "SpecError", "Span", "parse", "parse_file", "read_source"]
