"""Layer and model names: one rule (``compiler.ir.names``), safe wherever a name goes.

A name is 1 to 100 letters, digits, ``_``, ``-`` and ``.``, starting with a letter or ``_``. A spec that
breaks the rule gets ``path:line:col: error:`` with a caret at the name, from every command, before
anything is written; an IR .json gets one line (``tests/test_hostile_ir.py``). Names of every allowed
character class train on all three backends, as weight keys, Keras layer and model names and file names,
and the run directory stays inside ``runs/``. Emitted programs turn names into safe Python identifiers.
"""

from __future__ import annotations

import builtins
import json
import keyword
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tools.emit.code import class_name, identifier
from tools.emit.torch_source import MODULE_NAMES, RESERVED
from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.ir.names import MAX_NAME_LENGTH, child_path
from compiler.pipeline import compile_text
from compiler.weights import weight_specs
from plot_stubs import unrendered_plots  # noqa: F401 - a fixture (tests/ is on sys.path under pytest)
from frameworks import need

runner = CliRunner()

TRAIN = """
train {
    loss = categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    batch_size = 8
    epochs = 1
    data = blobs(n_samples=8, classes=2, features=3)
}
"""

# The name as written in the spec (a string literal) -> what the error must say.
BAD_NAMES = {
    "slash": ('"a/b"', "contains '/'"),
    "parent-directory": ('"../up"', "contains '/'"),
    "empty": ('""', "the name is empty"),
    "space": ('"a b"', "contains ' '"),
    "newline": ('"a\\nb"', "contains '\\n'"),
    "backslash": ('"a\\\\b"', "contains '\\\\'"),
    "quote": ('"a\\"b"', "contains '\"'"),
    "apostrophe": ('"a\'b"', "contains \"'\""),
    "digit-first": ('"1st"', "starts with '1'"),
    "dash-first": ('"-x"', "starts with '-'"),
    "dot-first": ('".x"', "starts with '.'"),
    "not-ascii": ('"é"', "contains '\\xe9'"),
    "too-long": ('"' + "x" * (MAX_NAME_LENGTH + 1) + '"', f"{MAX_NAME_LENGTH + 1} characters"),
}


def bad_spec(literal: str) -> str:
    return f"model m {{\n    Input([3])\n    Dense(2, name={literal})\n}}\n{TRAIN}"


def command_args(command: str, spec: Path, work: Path) -> list[str]:
    return {
        "check": ["check", str(spec)],
        "compile": ["compile", str(spec), "-o", str(work / "ir.json")],
        "train": ["train", str(spec), "-q"],
        "equiv": ["equiv", str(spec), "--backends", "numpy", "--steps", "1"],
        "diagnose": ["diagnose", str(spec), "--plot", str(work / "d.png")],
        "lr-find": ["lr-find", str(spec), "--steps", "10", "--plot", str(work / "lr.png")],
        "emit": ["emit", str(spec), "-o", str(work / "program.py")],
    }[command]


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_a_bad_layer_name_is_an_error_at_the_name(case, tmp_path):
    literal, fragment = BAD_NAMES[case]
    path = tmp_path / "bad.nns"
    path.write_text(bad_spec(literal), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == EXIT_ERRORS, result.output
    lines = result.output.splitlines()
    column = "    Dense(2, name=".index("name=") + len("name=") + 1
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{path}:3:{column}: error: "))
    assert fragment in lines[at] and "starting with a letter or '_'" in lines[at], lines[at]
    caret = lines[at + 2]
    assert caret.index("^") - caret.index("|") - 2 == column - 1, "\n".join(lines[at:at + 3])
    assert "Traceback" not in result.output


def test_a_model_name_longer_than_the_rule_allows_is_an_error_at_the_name(tmp_path):
    path = tmp_path / "long.nns"
    path.write_text(f"model {'m' * (MAX_NAME_LENGTH + 1)} {{\n    Input([3])\n    Dense(2)\n}}\n")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == EXIT_ERRORS
    assert f"{path}:1:7: error: model name: the name 'mmm" in result.output
    assert f"{MAX_NAME_LENGTH + 1} characters" in result.output


@pytest.mark.parametrize("command", ["check", "compile", "train", "equiv", "diagnose", "lr-find", "emit"])
def test_every_command_refuses_a_bad_name_before_anything_starts(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.nns"
    path.write_text(bad_spec('"../../escape"'))
    result = runner.invoke(app, command_args(command, path, tmp_path))
    assert result.exit_code == EXIT_ERRORS and isinstance(result.exception, SystemExit), result.output
    assert f"{path}:3:" in result.output and "contains '/'" in result.output
    assert sorted(os.listdir(tmp_path)) == ["bad.nns"], "nothing may be written"


# ---- every allowed character class, on every backend -----------------------------------------------------
GOOD = f"""
model m {{
    Input([3], name="_in")
    Dense(4, activation=relu, name="a.b-c_1")
    BatchNormalization(name="_x")
    Dropout(0.25, name="d.0-_")
    Dense(2, activation=softmax, name="Z9")
}}
{TRAIN}
"""
MODEL_NAME = "_m.x-1"  # leading _ (TensorFlow refuses it for a root scope), a dot and a dash


@pytest.fixture(scope="module")
def good_ir(tmp_path_factory) -> Path:
    """GOOD as an IR .json whose model name uses every allowed character class too."""
    doc = compile_text(GOOD, "good.nns").spec.model_dump(mode="json")
    doc["name"] = MODEL_NAME
    path = tmp_path_factory.mktemp("good") / "good.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("backend", ["numpy", "torch", "keras"])
def test_names_of_every_allowed_character_class_train_on_every_backend(backend, good_ir, tmp_path, monkeypatch,
                                                                       unrendered_plots):
    if backend != "numpy":
        need(backend)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", str(good_ir), "--backend", backend, "-q"])
    assert result.exit_code == EXIT_OK, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()  # the run directory: inside runs/, named after the model
    assert run_dir.name.startswith(f"{MODEL_NAME}-")
    with np.load(run_dir / "weights.npz", allow_pickle=False) as saved:
        assert set(saved.files) == {w.name for w in weight_specs(compile_text(GOOD).spec)}


def test_names_reaching_paths_stay_in_their_directory(tmp_path):
    """Defence in depth: a name that would leave its directory is refused even if it got past the rule."""
    assert child_path(tmp_path, "m.x-1-20260101") == tmp_path / "m.x-1-20260101"
    (tmp_path / "link").symlink_to("/")
    for name in ["..", "../x", "a/b", "", ".", "x\x00", "link"]:
        with pytest.raises(ValueError):
            child_path(tmp_path, name)


def test_the_run_directory_stays_in_runs_even_for_a_name_past_the_rule(tmp_path):
    """``create_run_dir`` checks the path it builds from the model name, whatever checked the name before."""
    from runtime.files import WriteError
    from runtime.run_dir import create_run_dir

    root = tmp_path / "work" / "runs"
    for name in ["../../escape", "a/b", "x\x00"]:
        with pytest.raises(WriteError, match="not a plain file name"):
            create_run_dir(None, name, root=root)
    assert not any(p.name.startswith("escape") for p in tmp_path.iterdir())
    assert not root.exists() or not any(root.iterdir())


# ---- identifiers in emitted programs ------------------------------------------------------------------------
CLASHING = ["forward", "self", "x", "F", "torch", "nn", "np", "math", "super", "print", "len", "class", "None",
            "_modules", "_parameters", "__class__", "__dict__", "__init__", "__x", "_x", "training", "a.b-c_1",
            "a_b_c_1", "layer_x", "Z9"]


def test_layer_names_become_safe_distinct_identifiers():
    taken: set[str] = set()
    idents = dict(zip(CLASHING, (identifier(name, taken, RESERVED | MODULE_NAMES) for name in CLASHING)))
    assert len(set(idents.values())) == len(idents)
    for name, ident in idents.items():
        assert ident.isidentifier() and ident.isascii(), (name, ident)
        assert not keyword.iskeyword(ident) and not hasattr(builtins, ident), (name, ident)
        assert ident not in RESERVED | MODULE_NAMES and not ident.startswith("_"), (name, ident)
    # a name that clashes with nothing keeps its spelling (dots and dashes as _); others get a suffix or prefix
    assert (idents["a.b-c_1"], idents["Z9"], idents["_x"]) == ("a_b_c_1", "Z9", "layer_x")
    assert (idents["forward"], idents["_modules"]) == ("forward_layer", "layer_modules")
    assert (idents["a_b_c_1"], idents["layer_x"]) == ("a_b_c_1_layer", "layer_x_layer")  # taken before them


@pytest.mark.parametrize("name", ["SystemExit", "systemExit", "F", "None", "_x", "__class__", "1x", "m.x-1"])
def test_model_names_become_class_names_that_shadow_nothing(name):
    cls = class_name(name, MODULE_NAMES)
    assert cls.isidentifier() and cls.isascii() and cls[0].isupper()
    assert cls not in MODULE_NAMES and not hasattr(builtins, cls) and not keyword.iskeyword(cls)
