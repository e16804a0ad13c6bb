"""A space's fingerprint (what a study stores to refuse resuming on a different space) and its differences.

The fingerprint is JSON-able: ``{"version", "dimensions": [...], "spec_hash"}``. Each dimension gives its
name, path, kind, bounds or options, the canonical text of each option (nested dimensions masked) and its
conditions. ``spec_hash`` is the SHA-256 of the spec's canonical text with every dimension masked and the
comments left out: editing a comment or the layout changes nothing; editing anything else does.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from compiler.space.dimensions import DIMENSION_FUNCTIONS, show_label
from spec_lang import ast
from spec_lang.formatter import format_expr, format_module

VERSION = 1
MASK = "__dimension__"


def masked(node):
    """``node`` (any AST node) with every dimension call replaced by the call ``__dimension__()`` (a call
    stands in a value position and in a body alike)."""
    if isinstance(node, ast.Call):
        if node.func in DIMENSION_FUNCTIONS:
            return ast.Call(MASK, node.func_span, (), node.span)
        return replace(node, args=tuple(replace(a, value=masked(a.value)) for a in node.args))
    if isinstance(node, (ast.ListExpr, ast.TupleExpr, ast.Body, ast.DictExpr)):
        return replace(node, items=tuple(masked(i) for i in node.items))
    if isinstance(node, ast.DictItem):
        return replace(node, value=masked(node.value))
    if isinstance(node, ast.BinOp):
        return replace(node, left=masked(node.left), right=masked(node.right))
    if isinstance(node, ast.Unary):
        return replace(node, operand=masked(node.operand))
    if isinstance(node, ast.Named):
        return replace(node, stmt=masked(node.stmt))
    if isinstance(node, ast.Wired):
        return replace(node, call=masked(node.call))
    if isinstance(node, ast.Residual):
        return replace(node, body=masked(node.body), shortcut=None if node.shortcut is None else masked(node.shortcut))
    if isinstance(node, ast.Parallel):
        return replace(node, merge=masked(node.merge), branches=tuple(masked(b) for b in node.branches))
    if isinstance(node, ast.Branch):
        return replace(node, body=masked(node.body))
    if isinstance(node, ast.Repeat):
        return replace(node, count=masked(node.count), body=masked(node.body))
    if isinstance(node, (ast.ConstDef, ast.Setting)):
        return replace(node, value=masked(node.value))
    if isinstance(node, ast.TrainDef):
        return replace(node, settings=tuple(masked(s) for s in node.settings))
    if isinstance(node, ast.ModelDef):
        return replace(node, body=masked(node.body))
    if isinstance(node, ast.BlockDef):
        params = tuple(replace(p, default=masked(p.default) if p.default is not None else None) for p in node.params)
        return replace(node, params=params, body=masked(node.body))
    return node


def spec_hash(module: ast.Module) -> str:
    text = format_module(ast.Module(tuple(masked(s) for s in module.statements), (), module.path))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(space) -> dict:
    """``space``'s fingerprint (see the module docstring)."""
    dimensions = []
    for d in space.dimensions:
        entry: dict = {"name": d.name, "path": d.path, "kind": d.kind}
        if d.kind in ("choice", "optional"):
            entry["options"] = list(d.options)
        else:
            entry.update(low=d.low, high=d.high, step=d.step, log=d.log)
        if d.kind == "choice":
            call = space.dimension_call(d.name)
            entry["option_texts"] = [format_expr(masked(a.value)) for a in call.args]
        entry["conditions"] = [[parent, value] for parent, value in d.conditions]
        dimensions.append(entry)
    return {"version": VERSION, "dimensions": dimensions, "spec_hash": spec_hash(space.module)}


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "none"
    return show_label(value)


def differences(old: dict, new: dict) -> list[str]:
    """Human lines, one per change: ``added dimension X``, ``removed dimension X``, ``X: high 4 → 6``,
    ``X: option adam: adam(...) → adam(...)``, ``the spec changed outside its dimensions``."""
    lines = []
    if old.get("version") != new.get("version"):
        lines.append(f"fingerprint version {old.get('version')} → {new.get('version')}")
    before = {d["name"]: d for d in old.get("dimensions", [])}
    after = {d["name"]: d for d in new.get("dimensions", [])}
    for name in before:
        if name not in after:
            lines.append(f"removed dimension {name}")
    for name, d in after.items():
        if name not in before:
            lines.append(f"added dimension {name}")
            continue
        b = before[name]
        for key in ("kind", "low", "high", "step", "log", "options", "conditions"):
            if b.get(key) != d.get(key) or type(b.get(key)) is not type(d.get(key)):
                lines.append(f"{name}: {key} {_show(b.get(key))} → {_show(d.get(key))}")
        if b.get("options") == d.get("options"):
            for label, was, now in zip(d.get("options", []), b.get("option_texts", []), d.get("option_texts", [])):
                if was != now:
                    lines.append(f"{name}: option {_show(label)}: {was} → {now}")
    if old.get("spec_hash") != new.get("spec_hash"):
        lines.append("the spec changed outside its dimensions")
    return lines
