"""Compiler passes, each AST/IR in and new IR out: evaluate, expand, build, initializers, shapes, lint."""
