"""Hostile graph specs, IR files and data (issue 12's red team): each class of input a user can get wrong is one
``path:line:col: error:`` with a caret (a spec) or one ``PATH: error:`` line (an IR ``.json``, a data file), exit 2,
on every command; never a traceback, a RecursionError, a crash of one backend, or time that grows faster than
the graph.

The classes: nesting that only appears once blocks are expanded (``MAX_EXPANSION_DEPTH``: an explicit limit,
so that a spec compiles or not whatever the caller's stack depth); names that mean two things (a line named
like a block, a layer kind or a constant); output keys whose history names would collide (``val``, ``val_...``)
or that break the name rule; data that gives the model its own targets (a column in x and y) or a column
twice; tensors of more axes than TensorFlow's kernels take (``MAX_AXES``); the new kinds' hostile arguments;
wide graphs (fan-out, wide merges) in linear time; an early-stopping monitor translated to Keras' names by the
longest key; PyTorch's CPU allocator failing is "out of memory".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.ir.graph import Graph
from compiler.ir_file import IRFileError, read_ir
from compiler.passes.build import MAX_EXPANSION_DEPTH
from compiler.passes.shapes import MAX_AXES
from compiler.passes.training import monitorable
from compiler.pipeline import compile_text
from runtime.model_memory import is_out_of_memory
from spec_lang.diagnostics import SpecError
from tools.emit.outputs import keras_monitor

runner = CliRunner()

TRAIN = """
train {
    loss = mse
    optimizer = adam
    batch_size = 4
    epochs = 1
    data = blobs(n_samples=16, classes=2, features=4)
}
"""


def model(body: str, before: str = "", train: str = TRAIN) -> str:
    return before + "model m {\n" + body + "}\n" + train


def chain(n: int, wrap: str) -> str:
    """``n`` blocks, each using the one before inside ``wrap`` (``{}``: the use); the model uses the last."""
    blocks = "block b0() {\n    Dense(4)\n}\n"
    for i in range(1, n):
        blocks += f"block b{i}() {{\n    {wrap.format(f'b{i - 1}()')}\n}}\n"
    return model(f"    x = Input([4])\n    b{n - 1}()(x)\n", blocks)


WRAPS = {
    "plain": "{}",
    "residual": "residual {{ {} }}",
    "parallel": "parallel Add() {{ branch {{ {} }} branch {{ }} }}",
    "repeat": "repeat 1 {{ {} }}",
    "named": "y = {}\n    Dense(4)(y)",
}


def one_error(text: str) -> tuple[int, int, str]:
    with pytest.raises(SpecError) as info:
        compile_text(text, "h.nns")
    first = info.value.diagnostics[0]
    return first.span.line, first.span.column, first.message


def cli(args: list[str]):
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output, result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    return result


def assert_caret_error(result, path: Path, line: int, column: int, message: str) -> None:
    assert result.exit_code == EXIT_ERRORS, result.output
    lines = result.output.splitlines()
    head = f"{path}:{line}:{column}: error: "
    at = next((i for i, l in enumerate(lines) if l.startswith(head)), None)
    assert at is not None, result.output
    assert message in lines[at]
    assert "^" in lines[at + 2], result.output  # the excerpt, then the caret under it


# ---- nesting after expansion: an explicit limit, the same answer at any stack depth ----------------------------------
@pytest.mark.parametrize("wrap", WRAPS, ids=list(WRAPS))
def test_nesting_through_blocks_past_the_limit_is_an_error_at_the_statement(wrap):
    line, column, message = one_error(chain(MAX_EXPANSION_DEPTH + 20, WRAPS[wrap]))
    assert message.startswith(f"nested too deeply: more than {MAX_EXPANSION_DEPTH} levels of blocks")
    assert "blocks: b" in message and len(message) < 300  # the chain of blocks, shortened
    assert line > 1 and column > 1


def _at_stack_depth(frames: int, call):
    return call() if frames == 0 else _at_stack_depth(frames - 1, call)


def test_a_spec_just_inside_the_limit_compiles_whatever_the_callers_stack():
    text = chain(MAX_EXPANSION_DEPTH // 2 - 1, WRAPS["residual"])  # two levels a block: the use, the residual
    spec = compile_text(text).spec
    assert [layer.kind for layer in spec.layers] == ["Input", "Dense"] + ["Add"] * (MAX_EXPANSION_DEPTH // 2 - 2)
    # a caller 300 frames deep (of Python's default 1000) gets the same answer
    assert _at_stack_depth(300, lambda: compile_text(text)).spec == spec


@pytest.mark.parametrize("command", ["check", "compile", "emit", "emit-keras", "train"])
def test_every_command_refuses_deep_nesting_with_the_caret(tmp_path, command):
    path = tmp_path / "deep.nns"
    path.write_text(chain(MAX_EXPANSION_DEPTH + 5, WRAPS["residual"]))
    args = {"check": ["check", str(path)], "compile": ["compile", str(path), "-o", str(tmp_path / "o.json")],
            "emit": ["emit", str(path), "-o", str(tmp_path / "p.py")],
            "emit-keras": ["emit", str(path), "-b", "keras", "-o", str(tmp_path / "p.py")],
            "train": ["train", str(path), "-q", "--out", str(tmp_path / "run")]}[command]
    result = cli(args)
    line, column, _ = one_error(path.read_text())
    assert_caret_error(result, path, line, column, "nested too deeply")
    assert not (tmp_path / "run").exists() and not (tmp_path / "p.py").exists()


# ---- one error with a caret for each hostile construct or argument --------------------------------------------------
IMG = "    Input([8, 8, 3])\n"
TAIL = "    Flatten()\n    Dense(2)\n"
ERRORS = [
    # names that mean two things
    ("name-is-a-constant", model("    units = Input([4])\n    Dense(units)(units)\n", "units = 3\n"), 3, 5,
     "'units' is a constant of the spec"),
    ("name-is-a-block", model("    blk = Input([4])\n    blk()(blk)\n", "block blk() {\n    Dense(3)\n}\n"), 5, 5,
     "'blk' is a block of the spec"),
    ("name-is-a-layer-kind", model("    Dense = Input([4])\n    Dense(2)(Dense)\n"), 2, 5,
     "'Dense' is a layer kind of the spec"),
    # output keys
    ("output-key-val", model("    x = Input([4])\n    output val = Dense(2)(x)\n    output b = Dense(1)(x)\n"), 3, 12,
     "output key 'val': validation data's history names start with val_"),
    ("output-key-val-prefix", model("    x = Input([4])\n    output val_b = Dense(2)(x)\n    output b = Dense(1)(x)\n"),
     3, 12, "output key 'val_b'"),
    ("output-key-too-long", model("    x = Input([4])\n    output " + "k" * 101 + " = Dense(2)(x)\n"), 3, 12,
     "output key: the name 'kkkkkkkkkk"),
    ("output-twice", model("    x = Input([4])\n    output a = Dense(2)(x)\n    output a = Dense(2)(x)\n"), 4, 12,
     "'a' is already defined at line 3"),
    # graph constructs
    ("zero-branches", model("    x = Input([4])\n    parallel Add() { }\n"), 3, 14,
     "parallel Add() needs at least 2 branches, received 0"),
    ("input-given-inputs", model("    x = Input([4])\n    Input([4])(x)\n    Dense(2)\n"), 3, 5,
     "an Input takes no input"),
    ("unused-input", model("    x = Input([4])\n    y = Input([4])\n    Dense(2)(x)\n"), 3, 5,
     "'y' is defined but never used"),
    ("residual-first", model("    residual { Dense(4) }\n"), 2, 5, "a residual adds its body's output to its input"),
    ("merge-one-input", model("    x = Input([4])\n    Add()(x)\n"), 3, 5, "Add merges 2 or more inputs, received 1"),
    # ranks beyond what every backend takes
    ("input-8-axes", model("    Input([" + ", ".join(["1"] * MAX_AXES) + ", 2])\n" + TAIL), 2, 5,
     f"Input's output would have {MAX_AXES + 1} axes after the batch axis; a tensor has at most {MAX_AXES}"),
    ("reshape-65-axes", model(IMG + "    Reshape([" + ", ".join(["1"] * 64) + ", 192])\n" + TAIL), 3, 5,
     "Reshape's output would have 65 axes after the batch axis"),
    # the new kinds' hostile arguments
    ("reshape-two-unknowns", model(IMG + "    Reshape([-1, -1])\n" + TAIL), 3, 13, "at most one -1"),
    ("reshape-to-zero", model(IMG + "    Reshape([0, 192])\n" + TAIL), 3, 13, "expected positive sizes"),
    ("permute-repeats-an-axis", model(IMG + "    Permute([1, 1, 2])\n" + TAIL), 3, 13, "expected a permutation of 1..3"),
    ("cropping-past-the-image", model(IMG + "    Cropping2D(4)\n" + TAIL), 3, 5, "nothing would be left"),
    ("zero-padding-2-62", model(IMG + "    ZeroPadding2D(2**62)\n" + TAIL), 3, 5,
     "ZeroPadding2D is too large: its output or its parameters would hold more than 2**63 - 1 values"),
    ("upsampling-2-40", model(IMG + "    UpSampling2D(2**40)\n" + TAIL), 3, 5, "UpSampling2D is too large"),
    ("transpose-stride-2-40", model(IMG + "    Conv2DTranspose(4, 3, strides=2**40)\n" + TAIL), 3, 5,
     "Conv2DTranspose is too large"),
    ("group-norm-zero-groups", model(IMG + "    GroupNormalization(groups=0)\n" + TAIL), 3, 31,
     "groups is a positive number of groups"),
    ("softmax-axis-5", model(IMG + "    Softmax(axis=5)\n" + TAIL), 3, 5, "Softmax: axis 5 is out of range"),
    ("relu-negative-max", model(IMG + "    ReLU(max_value=-1)\n" + TAIL), 3, 20, "expected a value >= 0.0"),
    ("elu-nan-alpha", model(IMG + "    ELU(alpha=0/0)\n" + TAIL), 3, 15, "division by zero"),
    ("prelu-shared-axis-outside", model(IMG + "    PReLU(shared_axes=[4])\n" + TAIL), 3, 5,
     "PReLU: shared_axes [4] must name axes 1 to 3"),
    ("layer-norm-axis-twice", model(IMG + "    LayerNormalization(axis=[3, -1])\n" + TAIL), 3, 5,
     "names the same axis twice"),
    ("product-overflows-int64", model("    Input([2**31, 2**31, 2**31])\n    Dense(2)\n"), 2, 5, "Input is too large"),
]


@pytest.mark.parametrize("text, line, column, message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_each_hostile_spec_is_one_error_at_its_caret(tmp_path, text, line, column, message):
    path = tmp_path / "h.nns"
    path.write_text(text)
    assert_caret_error(cli(["check", str(path)]), path, line, column, message)


@pytest.mark.parametrize("case", ["name-is-a-constant", "output-key-val", "reshape-65-axes", "zero-branches"])
@pytest.mark.parametrize("command", ["emit", "train"])
def test_the_same_errors_on_emit_and_train(tmp_path, case, command):
    _, text, line, column, message = next(c for c in ERRORS if c[0] == case)
    path = tmp_path / "h.nns"
    path.write_text(text)
    args = ["emit", str(path), "-o", str(tmp_path / "p.py")] if command == "emit" else \
        ["train", str(path), "-q", "--out", str(tmp_path / "run")]
    assert_caret_error(cli(args), path, line, column, message)


# ---- wide graphs: accepted, in linear time (counted, not timed) -----------------------------------------------------
def test_one_value_used_2000_times_and_a_2000_wide_merge_check():
    n = 2000
    body = "    x = Input([4])\n" + "".join(f"    d{i} = Dense(1)(x)\n" for i in range(n))
    body += "    Concatenate()(" + ", ".join(f"d{i}" for i in range(n)) + ")\n    Dense(2)\n"
    spec = compile_text(model(body)).spec
    graph = Graph.of(spec.layers, spec.outputs)
    assert len(graph.consumers[0]) == n and graph.consumers[0] == tuple(range(1, n + 1))
    assert spec.layers[n + 1].output_shape == (n,)


def test_graph_consumers_list_each_consumer_once_in_order():
    spec = compile_text(model("    x = Input([4])\n    a = Dense(4)\n    s = Add()(a, x)\n    Multiply()(x, a, s)\n"
                              "    Dense(2)\n")).spec
    graph = Graph.of(spec.layers, spec.outputs)
    assert graph.consumers == ((1, 2, 3), (2, 3), (3,), (4,), ())


# ---- history names: output keys ------------------------------------------------------------------------------------
KEYS = model("    x = Input([4])\n    h = Dense(8)\n    output y = Dense(2)(h)\n    output y_b = Dense(1)(h)\n"
             "    output y_b_c = Dense(1)(h)\n",
             train="""
train {
    loss = mse
    metrics = {y: [mae], y_b: [mae], y_b_c: [mse]}
    optimizer = adam
    batch_size = 4
    epochs = 1
    validation_split = 0.25
    data = blobs(n_samples=16, classes=2, features=4)
}
""")


def test_every_monitorable_name_goes_to_its_own_output_layer_in_keras():
    spec = compile_text(KEYS).spec
    layer = dict(zip(spec.output_key_names, spec.output_names))
    names = monitorable(spec.training, spec.output_keys)
    assert len(set(names)) == len(names)  # no two history entries share a name
    for name in names:
        rest = name.removeprefix("val_")
        key = max((k for k in layer if rest.startswith(k + "_")), key=len, default=None)
        expected = name if key is None else name.replace(rest, layer[key] + rest[len(key):], 1)
        assert keras_monitor(spec, name) == expected, name
    assert keras_monitor(spec, "val_y_b_loss") == f"val_{layer['y_b']}_loss"


# ---- data: what the model would be given ---------------------------------------------------------------------------
CSV_SPEC = """model m {
    a = Input([2])
    b = Input([1])
    Concatenate()(a, b)
    h = Dense(4)
    output p = Dense(1)(h)
    output q = Dense(1)(h)
}
train {
    loss = mse
    optimizer = adam
    batch_size = 4
    epochs = 1
    data = csv("d.csv", x=XS, y=YS)
}
"""
DATA_ERRORS = [  # (x, y, the key the error points at, in which dict, message)
    ("column-in-x-and-y", '{a: ["c1", "c2"], b: ["t1"]}', '{p: "t1", q: "t2"}', "y={p", "p",
     "column 't1' is both an input (x['b']) and a target (y['p']): the model would be given the answers"),
    ("column-in-two-groups", '{a: ["c1", "c2"], b: ["c2"]}', '{p: "t1", q: "t2"}', "b:", "b",
     "column 'c2' is given twice (x['a'] and x['b'])"),
    ("column-twice-in-a-group", '{a: ["c1", "c1"], b: ["c2"]}', '{p: "t1", q: "t2"}', "{a:", "a",
     "column 'c1' is given twice (x['a'])"),
]


@pytest.mark.parametrize("xs, ys, near, key, message", [c[1:] for c in DATA_ERRORS], ids=[c[0] for c in DATA_ERRORS])
def test_data_that_reuses_a_column_is_an_error_at_its_key(tmp_path, xs, ys, near, key, message):
    text = CSV_SPEC.replace("XS", xs).replace("YS", ys)
    path = tmp_path / "h.nns"
    path.write_text(text)
    lines = text.splitlines()
    line = next(i for i, l in enumerate(lines, 1) if l.lstrip().startswith("data ="))
    column = lines[line - 1].index(near) + near.index(key) + 1
    assert_caret_error(cli(["check", str(path)]), path, line, column, message)


def test_a_hostile_loss_key_is_shown_escaped_on_one_line(tmp_path):
    path = tmp_path / "h.nns"
    path.write_text(CSV_SPEC.replace("XS", '{a: ["c1", "c2"], b: ["c3"]}').replace("YS", '{p: "t1", q: "t2"}')
                    .replace("loss = mse", 'loss = {p: mse, q: mse, "x\\ny' + "z" * 500 + '": mse}'))
    result = cli(["check", str(path)])
    assert result.exit_code == EXIT_ERRORS
    [head] = [l for l in result.output.splitlines() if ": error: " in l]
    assert "loss names 'x\\nyzzz" in head and "...'" in head and len(head) < 200


def test_a_single_value_in_an_npz_is_one_line_not_a_traceback(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.ones((8, 2)), b=np.float64(3.0), p=np.ones((8, 1)), q=np.ones((8, 1)))
    path = tmp_path / "h.nns"
    path.write_text(CSV_SPEC.replace('csv("d.csv", x=XS, y=YS)',
                                     'npz("d.npz", x={a: "a", b: "b"}, y={p: "p", q: "q"})'))
    result = cli(["train", str(path), "-q", "--out", str(tmp_path / "run")])
    assert result.exit_code == EXIT_ERRORS
    assert result.output.strip().splitlines()[-1] == f"{path}: error: data: x['b'] is a single value; it needs one " \
                                                     "row per sample"


# ---- hand-made IR: output keys ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_output_ir() -> dict:
    text = CSV_SPEC.replace("XS", '{a: ["c1", "c2"], b: ["c3"]}').replace("YS", '{p: "t1", q: "t2"}')
    return compile_text(text, "h.nns").spec.model_dump(mode="json")


@pytest.mark.parametrize("key, message", [
    ('p"\n import os  #', "output_keys[0]: output key: the name 'p\"\\n import os  #' contains '\"'"),
    ("p" * 100_000, "output_keys[0]: output key: the name 'pppppppppp"),
    ("val", "output_keys[0]: output key 'val'"),
    ("val_q", "output_keys[0]: output key 'val_q'"),
    ("", "output_keys[0]: output key: the name is empty"),
    ("q", "output_keys: the key 'q' is given twice"),
], ids=["quote-newline", "100k", "val", "val-prefix", "empty", "twice"])
def test_an_ir_with_a_hostile_output_key_is_one_line(tmp_path, two_output_ir, key, message):
    doc = json.loads(json.dumps(two_output_ir).replace('"p"', json.dumps(key)))
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(IRFileError) as info:
        read_ir(path)
    assert message in str(info.value) and "\n" not in str(info.value) and len(str(info.value)) < 600
    result = cli(["emit", str(path), "-b", "keras", "-o", str(tmp_path / "p.py")])
    assert result.exit_code == EXIT_ERRORS and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p.py").exists()


# ---- memory --------------------------------------------------------------------------------------------------------
def test_torch_cpu_allocator_failure_counts_as_out_of_memory():
    refused = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 51539607552 bytes. Error code 12 (Cannot allocate memory)")
    assert is_out_of_memory(refused)
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_a_model_just_inside_the_axis_limit_checks(tmp_path):
    path = tmp_path / "h.nns"
    path.write_text(model("    Input([" + ", ".join(["1"] * (MAX_AXES - 1)) + ", 2])\n    PReLU()\n" + TAIL))
    assert cli(["check", str(path)]).exit_code == EXIT_OK


def test_a_merge_may_take_one_value_many_times_as_keras_allows():
    """Add()(x, x) is 2x and Concatenate of one value a thousand times is its copies side by side (Keras
    accepts both); the wide one compiles in linear time and trains a step whose gradient is the sum over
    every copy (the NumPy reference against finite differences lives in test_numpy_graph's self-merges)."""
    from compiler.pipeline import compile_text
    from runtime.trainers import make_trainer

    spec = compile_text(model("    x = Input([4])\n    twice = Add()(x, x)\n    Concatenate()("
                              + ", ".join(["twice"] * 1000) + ")\n    Dense(1)\n")).spec
    concatenate = spec.layers[2]
    assert concatenate.inputs == ("add",) * 1000 and concatenate.output_shape == (4000,)
    trainer = make_trainer("numpy", spec, dtype=np.float64, mode="canonical")
    x = np.ones((2, 4))
    before = trainer.get_weights()["dense/kernel"].copy()
    trainer.train_batch(x, np.zeros((2, 1)), 0, 0.1)
    assert not np.array_equal(trainer.get_weights()["dense/kernel"], before)
