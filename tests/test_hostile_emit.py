"""``nnspec emit`` writes no spec text into the program unquoted.

Hostile strings (line breaks of every kind, quotes, triple quotes, backslashes and ``\\N{...}``, NUL,
braces) reach the emitter through every door a string has: the spec file's name, the spec's data path and
label, an IR .json (its file name, data path, label and source spans), and IR built directly with names
that bypass the name rule. For each, on both targets, the emitted program must

- compile;
- have the same syntax tree as the program emitted with harmless strings (strings and identifiers
  aside): nothing the hostile text says became code, in any function;
- run its module-level code (imported as a module, frameworks stubbed, without ``main()``) without the
  payload's marker file appearing.
"""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.emit import emit_source
from cli import app
from compiler.ir.spec import Spec
from compiler.ir.training import FileData
from compiler.pipeline import compile_text

MARKER = "PWNED"
PAYLOAD = f'open("{MARKER}", "w").close()'
HOSTILE = {
    "newline": f"x\n{PAYLOAD}\n#",
    "carriage-return": f"x\r{PAYLOAD}\r#",
    "form-feed-and-vertical-tab": f"x\x0c{PAYLOAD}\x0b#",
    "unicode-line-separators": f"x\u2028{PAYLOAD}\u2029#\x85",
    "triple-double-quotes": f'x"""\n{PAYLOAD}\n"""',
    "triple-single-quotes": f"x'''\n{PAYLOAD}\n'''",
    "closing-quote": 'x"',
    "named-escape": "x\\N{BULLET}y\\N",
    "backslash-at-the-end": "x\\",
    "braces": "{" + PAYLOAD + "}",
    "nul": "x\x00y",
}
SPEC = """
model m {
    Input([3])
    Rescaling(0.5)
    Dense(4, activation=relu, kernel_regularizer=l2(0.01))
    Dropout(0.1)
    Dense(2, activation=softmax)
}
train {
    loss = categorical_crossentropy
    optimizer = adam
    validation_split = 0.25
    early_stopping = monitor(val_loss, patience=1)
    data = DATA
}
"""
BENIGN = "benign"
runner = CliRunner()


def spec_with_data(path: str, label: str, spec_path: str = "m.nns") -> Spec:
    """The spec reading the CSV file ``path`` with label column ``label`` (set after compiling, so that any
    string can be tried, not only those a spec's string escapes can write)."""
    spec = compile_text(SPEC.replace("DATA", '"d.csv"'), spec_path).spec
    data = FileData(path=path, label=label)
    return spec.model_copy(update={"training": spec.training.model_copy(update={"data": data})})


def shape_of(source: str) -> str:
    """The syntax tree with every string constant and identifier blanked: what the program does."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
        for field in ("id", "attr", "name", "arg", "asname"):
            if isinstance(getattr(node, field, None), str):
                setattr(node, field, "_")
    return ast.dump(tree)


class _Anything(type):
    """A stand-in for every name a framework exports: attributes, calls, subclasses, decorators."""

    def __getattr__(cls, name):
        return _Anything(name, (), {})

    def __call__(cls, *args, **kwargs):
        return cls


def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: _Anything(attr, (), {})
    module.__path__ = []
    return module


FRAMEWORKS = ("torch", "torch.nn", "torch.nn.functional", "keras", "sklearn", "sklearn.datasets")


@pytest.fixture
def run_module_level(monkeypatch, tmp_path):
    """Execute a program's module-level code as an import would (``__name__`` is not "__main__"), with the
    frameworks stubbed, in ``tmp_path``; return whether the payload's marker appeared."""
    for name in FRAMEWORKS:
        monkeypatch.setitem(sys.modules, name, _stub(name))
    monkeypatch.chdir(tmp_path)

    def run(source: str, path: Path) -> bool:
        exec(compile(source, str(path), "exec"), {"__name__": "emitted_program", "__file__": str(path)})
        return (tmp_path / MARKER).exists()

    return run


def assert_safe(source: str, benign: str, run_module_level, path: Path) -> None:
    compile(source, str(path), "exec")
    assert shape_of(source) == shape_of(benign), "spec text became code"
    assert not run_module_level(source, path), "the payload ran"


def test_the_payload_is_live(tmp_path, monkeypatch):
    """The payload does create the marker when it runs as code (so its absence means something)."""
    monkeypatch.chdir(tmp_path)
    exec(PAYLOAD)
    assert (tmp_path / MARKER).exists()


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_spec_strings_and_file_names_stay_quoted(case, backend, tmp_path, run_module_level):
    """The spec file's name, the data path and the label column of a spec, through the command."""
    hostile = HOSTILE[case]
    program = tmp_path / "program.py"
    benign = emit_source(spec_with_data(f"{BENIGN}.csv", BENIGN), backend, spec_path=f"{BENIGN}.nns",
                         program_path=program)
    spec_path = tmp_path / f"m{hostile.replace(chr(0), '')}.nns"  # a file name holds anything but NUL and /
    spec_path.write_text(SPEC.replace("DATA", 'file("d.csv", label="y")'))
    spec = spec_with_data(f"{hostile}.csv", hostile, str(spec_path))
    result = runner.invoke(app, ["emit", str(spec_path), "--backend", backend, "-o", str(program)])
    assert result.exit_code == 0, result.output
    assert_safe(program.read_text(), benign, run_module_level, program)
    source = emit_source(spec, backend, spec_path=str(spec_path), program_path=program)  # the data strings
    assert_safe(source, benign, run_module_level, program)
    assert repr(f"{hostile}.csv")[1:-1] in source  # the path itself is kept, escaped


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_ir_json_strings_and_file_name_stay_quoted(case, backend, tmp_path, run_module_level):
    """An IR .json with hostile data path, label and source spans, under a hostile file name."""
    hostile = HOSTILE[case]
    program = tmp_path / "program.py"
    benign = emit_source(spec_with_data(f"{BENIGN}.csv", BENIGN), backend, spec_path=f"{BENIGN}.json",
                         program_path=program)
    doc = spec_with_data(f"{hostile}.csv", hostile).model_dump(mode="json")
    doc["span"]["path"] = hostile
    doc["layers"][1]["span"]["path"] = hostile
    ir = tmp_path / f"m{hostile.replace(chr(0), '')}.json"
    ir.write_text(json.dumps(doc))
    result = runner.invoke(app, ["emit", str(ir), "--backend", backend, "-o", str(program)])
    assert result.exit_code == 0, result.output
    assert_safe(program.read_text(), benign, run_module_level, program)


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_names_that_bypass_the_name_rule_stay_quoted(case, backend, tmp_path, run_module_level):
    """Defence in depth: IR built without validation (``model_construct``) with hostile model and layer
    names still emits a safe program; the emitter does not rely on the name rule."""
    hostile = HOSTILE[case]
    program = tmp_path / "program.py"
    spec = spec_with_data("d.csv", "y")

    def named(model: str, layers: list[str]) -> Spec:
        new = {layer.name: name for layer, name in zip(spec.layers, layers)}  # the wiring follows the names
        renamed = tuple(layer.model_copy(update={"name": new[layer.name], "inputs": tuple(new[i] for i in layer.inputs)})
                        for layer in spec.layers)
        outputs = tuple(new[name] for name in spec.outputs)
        return Spec.model_construct(**{**dict(spec), "name": model, "layers": renamed, "outputs": outputs})

    benign = emit_source(named("m", ["a", "b", "c", "d", "e"]), backend, spec_path="m.nns", program_path=program)
    hostile_names = [hostile + "1", hostile + "2", hostile + "3", "__class__", hostile + "4"]
    source = emit_source(named(hostile, hostile_names), backend, spec_path=f"{hostile}.nns", program_path=program)
    assert_safe(source, benign, run_module_level, program)
