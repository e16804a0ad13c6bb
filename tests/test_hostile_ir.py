"""A compiled IR ``.json`` is untrusted input, like a spec.

Every command that takes "a spec file, or an IR .json" (train, equiv, diagnose, lr-find, emit) loads it
through ``compiler.ir_file.read_ir``: what the compiler could not have written is refused with one line,
``PATH: error: ...``, exit 2, before anything is written; never a traceback or an internal error. A
derandomized fuzzer mutates a compiled IR and holds every command to the same promise.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_DIVERGED, EXIT_ERRORS, EXIT_FINDINGS, EXIT_OK
from compiler.ir.spec import IR_VERSION
from compiler.ir_file import IRFileError, read_ir
from compiler.pipeline import compile_text
from plot_stubs import unrendered_plots  # noqa: F401 - a fixture (tests/ is on sys.path under pytest)

# Small, so that a command that accepts the IR finishes at once; names of every allowed character class.
BASE = """
model m_x {
    Input([3], name="_in")
    Dense(4, activation=leaky_relu, name="a.b-c_1")
    BatchNormalization(name="_bn")
    Dropout(0.1, name="d.0-_")
    Dense(2, activation=softmax, name="out")
}
train {
    loss = categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    schedule = warmup(steps=2, then=cosine(decay_steps=10))
    batch_size = 8
    epochs = 1
    metrics = [accuracy]
    validation_split = 0.25
    early_stopping = monitor(val_loss, patience=1)
    data = blobs(n_samples=16, classes=2, features=3)
}
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def base_doc() -> dict:
    return compile_text(BASE, "base.nns").spec.model_dump(mode="json")


def command_args(command: str, ir: Path, work: Path) -> list[str]:
    """The cheapest full invocation of ``command`` on ``ir``, writing only under ``work``."""
    return {
        "train": ["train", str(ir), "-q", "--out", str(work / "run")],
        "equiv": ["equiv", str(ir), "--backends", "numpy", "--steps", "1", "--out", str(work / "equiv")],
        "diagnose": ["diagnose", str(ir), "--batches", "1", "--plot", str(work / "diagnose.png")],
        "lr-find": ["lr-find", str(ir), "--steps", "10", "--plot", str(work / "lr.png")],
        "emit": ["emit", str(ir), "-o", str(work / "program.py")],
    }[command]


COMMANDS = ["train", "equiv", "diagnose", "lr-find", "emit"]


def _set(path: tuple, value):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc
    return mutate


def _delete(path: tuple):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return doc
    return mutate


def _layers(edit):
    def mutate(doc):
        doc["layers"] = edit(doc["layers"])
        return doc
    return mutate


def _second_input(layers):
    extra = dict(layers[0], name="in2")
    return [layers[0], layers[1], extra, *layers[2:]]


# id -> (change to the compiled IR, or the file's bytes; what the one-line error must say)
BAD_IRS = {
    "another-ir-version": (_set(("ir_version",), IR_VERSION + 1), f"reads IR version {IR_VERSION}"),
    "ir-version-not-a-number": (_set(("ir_version",), "one"), f"reads IR version {IR_VERSION}"),
    "model-name-leaves-runs": (_set(("name",), "../../.."), "contains '/'"),
    "layer-name-with-slash": (_set(("layers", 1, "name"), "a/b"), "contains '/'"),
    "layer-name-with-newline": (_set(("layers", 1, "name"), "a\nimport os"), "contains '\\n'"),
    "layer-name-empty": (_set(("layers", 1, "name"), ""), "the name is empty"),
    "layer-name-too-long": (_set(("layers", 1, "name"), "a" * 101), "101 characters"),
    "layer-unnamed": (_delete(("layers", 1, "name")), "has no name"),
    "duplicate-layer-names": (_set(("layers", 2, "name"), "a.b-c_1"), "must be unique"),
    "monitor-not-a-metric": (_set(("training", "early_stopping", "monitor"), "val_auc"),
                             "which training does not record"),
    "units-disagree-with-shape": (_set(("layers", 1, "units"), 5), "derives"),
    "parameter-count-forged": (_set(("layers", 1, "trainable_params"), 7), "derives"),
    "auto-initializer-unresolved": (_set(("layers", 1, "kernel_initializer"), {"kind": "auto"}), "derives"),
    "input-not-first": (_layers(lambda ls: [ls[1], ls[0], *ls[2:]]), "must start with Input"),
    "second-input": (_layers(_second_input), "the output of Input 'in2' is never used"),  # a graph: nothing takes it
    "only-the-input": (_layers(lambda ls: ls[:1]), "has only its Input"),
    "no-layers": (_layers(lambda ls: []), "must start with Input"),
    "leaky-relu-without-alpha": (_set(("layers", 1, "activation", "alpha"), None), "needs 'alpha'"),
    "relu-with-alpha": (_set(("layers", 4, "activation", "alpha"), 0.5), "takes no argument 'alpha'"),
    "infinite-number": (_set(("layers", 1, "activation", "alpha"), "inf"), "not a finite number"),
    "unknown-loss": (_set(("training", "loss", "kind"), "hinge"), "training.loss"),
    "unknown-optimizer": (_set(("training", "optimizer", "kind"), "adamx"), "training.optimizer"),
    "negative-rate": (_set(("training", "optimizer", "learning_rate"), -1), "greater than 0"),
    "extra-field": (_set(("layers", 1, "dropout"), 0.5), "Extra inputs are not permitted"),
    "wrong-type": (_set(("layers", 1, "units"), "many"), "valid integer"),
    "clip-norm-and-value": (lambda d: _set(("training", "clip_value"), 1.0)(_set(("training", "clip_norm"), 1.0)(d)),
                            "clip_norm or clip_value"),
    "not-json": (b'{"kind": "spec", ', "not JSON"),
    "nan-literal": (b'{"kind": "spec", "name": NaN}', "not JSON"),
    "empty-file": (b"", "not JSON"),
    "not-an-object": (b"[1, 2]", "not a compiled nnspec IR"),
    "another-kind": (b'{"kind": "model"}', "not a compiled nnspec IR"),
}


def write_ir(work: Path, base_doc: dict, change) -> Path:
    path = work / "model.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        path.write_text(json.dumps(change(copy.deepcopy(base_doc))))
    return path


def assert_one_line_error(result, path: Path, fragment: str = "") -> str:
    """Exit 2 through SystemExit (no exception escaped), one line naming the file, no traceback."""
    output = result.output  # stdout and stderr, interleaved
    assert result.exit_code == EXIT_ERRORS, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in output.splitlines() if line.startswith(f"{path}: error: ")]
    assert len(errors) == 1, output
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in output and "internal error" not in output
    return errors[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(BAD_IRS))
def test_every_command_refuses_an_ir_the_compiler_could_not_have_written(case, command, base_doc, tmp_path):
    change, fragment = BAD_IRS[case]
    path = write_ir(tmp_path, base_doc, change)
    result = runner.invoke(app, command_args(command, path, tmp_path))
    assert_one_line_error(result, path, fragment)
    assert sorted(os.listdir(tmp_path)) == ["model.json"], "nothing may be written for a refused IR"


def test_the_compiled_ir_is_accepted_as_it_is(base_doc, tmp_path):
    spec = read_ir(write_ir(tmp_path, base_doc, lambda d: d))
    assert spec == compile_text(BASE, "base.nns").spec


@pytest.mark.parametrize("special", ["directory", "fifo"])
def test_an_ir_path_that_is_not_a_regular_file_is_refused_without_reading(special, tmp_path):
    path = tmp_path / "model.json"
    if special == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)  # reading it would block forever
    with pytest.raises(IRFileError, match="directory|not a regular file"):
        read_ir(path)
    result = runner.invoke(app, ["emit", str(path)])
    assert_one_line_error(result, path)


def test_an_ir_beyond_the_size_limits_is_refused(base_doc, tmp_path, monkeypatch):
    """At most MAX_IR_BYTES are read, and a model may not have more layers than a spec may expand to
    (both limits lowered here, so the files stay small)."""
    import compiler.ir_file
    import compiler.passes.verify

    path = write_ir(tmp_path, base_doc, lambda d: d)
    monkeypatch.setattr(compiler.passes.verify, "MAX_LAYERS", 4)
    with pytest.raises(IRFileError, match="5 layers, more than a model may have"):
        read_ir(path)
    monkeypatch.setattr(compiler.ir_file, "MAX_IR_BYTES", 1000)
    with pytest.raises(IRFileError, match="too large"):
        read_ir(path)


def test_error_messages_escape_what_the_file_holds(base_doc, tmp_path):
    """A hostile name is shown escaped: no control character or line break reaches the terminal."""
    path = write_ir(tmp_path, base_doc, _set(("layers", 1, "name"), "\x1b[2J\rEVIL\n"))
    line = assert_one_line_error(runner.invoke(app, ["emit", str(path)]), path)
    assert "\x1b" not in line and "\r" not in line and "\\x1b" in line


# ---- fuzzing ------------------------------------------------------------------------------------------
# Replacement values by JSON type: a value of the same type usually (to get past the types into what the
# compiler derives), any value sometimes.
SAME_TYPE = {
    int: [0, 1, 2, 3, 4, 7, 8, 16, -1, 2**63, 2**70],
    float: [0.0, 1e-9, 0.1, 0.5, 0.99, 1.0, 2.0, -0.5, 1e308],
    str: ["", "x", "a/b", "../..", "_q", "relu", "leaky_relu", "softmax", "linear", "auto", "zeros", "he_normal",
          "orthogonal", "valid", "same", "Dense", "Input", "Dropout", "BatchNormalization", "val_loss", "loss",
          "accuracy", "val_accuracy", "mse", "binary_crossentropy", "sgd", "adamw", "cosine", "digits", "iris",
          "spirals", "regression", "file", "x.npz", "min", "max"],
    bool: [True, False],
    list: [[], [1], [3], [4], [2, 2, 1], [8, 8, 3], ["accuracy"], ["mse", "accuracy"]],
    dict: [{}, {"kind": "relu"}, {"kind": "constant", "value": 1.0}, {"kind": "l2", "l1": 0.0, "l2": 0.5}],
}
ANY = [v for values in SAME_TYPE.values() for v in values] + [None]


def _paths(node, prefix=()):
    """Every path to a value in a JSON document (containers included), source spans left out."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "span":
                yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@st.composite
def mutated_irs(draw, base: dict) -> dict:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        action = draw(st.sampled_from(["same-type"] * 6 + ["any", "delete", "copy-sibling"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "copy-sibling" and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[draw(st.integers(0, len(parent) - 1))]))
        else:
            pool = SAME_TYPE.get(type(old), ANY) if action == "same-type" else ANY
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(pool)))
    return doc


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_irs_work_or_are_refused_in_one_line_by_every_command(data, base_doc, tmp_path_factory,
                                                                      unrendered_plots):
    """Each mutated IR: every command either works (emit's program compiles, train trains or stops
    diverged) or exits 2 with one line; the commands that run a model are run when the IR is accepted."""
    doc = data.draw(mutated_irs(base_doc))
    work = tmp_path_factory.mktemp("fuzz")
    path = work / "model.json"
    path.write_text(json.dumps(doc))
    try:
        read_ir(path)
        accepted = True
    except IRFileError:
        accepted = False
    commands = COMMANDS if accepted else ["emit", "train"]  # a refused IR stops at the shared loader
    for command in commands:
        result = runner.invoke(app, command_args(command, path, work))
        if result.exit_code == EXIT_ERRORS:
            assert_one_line_error(result, path)
            continue
        assert accepted, f"{command} accepted an IR that read_ir refused: {result.output}"
        allowed = (EXIT_OK, EXIT_DIVERGED) if command == "train" else (EXIT_OK, EXIT_FINDINGS)  # equiv: backends part
        assert result.exit_code in allowed and not (result.exception and not isinstance(result.exception,
                                                                                       SystemExit)), (
            command, result.exit_code, repr(result.exception), result.output[-2000:])
        if command == "emit":
            compile((work / "program.py").read_text(), "program.py", "exec")
