"""The nnspec compiler: AST → validated, shape-checked IR, and the ``nnspec`` CLI."""

__version__ = "0.1.0"
