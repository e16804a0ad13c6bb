"""`nnspec emit`: the emitted PyTorch and Keras programs are standalone and mean what the NumPy
reference means.

Each program is emitted to a temporary file, imported as a module, given the canonical float64
initial weights (``initial_weights``) and compared with ``NumpyModel``: outputs in inference mode,
and, for specs without dropout, the loss of every step and the final weights of a few training steps
against ``run_canonical("numpy", ...)`` on the same batches, to 1e-9 relative.

Keras (TensorFlow backend) casts Python-float hyperparameters through float32 even in float64
(``ops.cast(0.01, "float64")`` is ``float32(0.01)``: regularizer factors, Rescaling, Adam's β in the
bias corrections, SGD's momentum, weight decay, Adagrad's initial accumulator), so the Keras
comparisons use the spec with every float rounded to float32: both sides then use the very same
numbers, and the programs agree to round-off (see ``test_keras_float32_rounding_is_the_only_gap``).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from runtime.data import load_dataset
from tools.emit import EmitError, emit_source, keras_source, torch_source
from tools.emit.common import uses_dropout
from tools.equiv import layer_scales, relative_error, run_canonical, step_batches
from compiler.semantics.initializers import initial_weights
from backends.numpy.model import NumpyModel
from cli.emit import emit
from compiler.ir.spec import Spec
from compiler.ir.training import OPTIMIZER_CLASSES, Loss
from compiler.semantics.optimizers import RULES, clip_scale, decay
from compiler.ir.values import INITIALIZER_KINDS, ActivationFn, ActivationKind
from compiler.ir.layers import LAYER_CLASSES
from compiler.ir.graph import Graph
from compiler.pipeline import compile_file, compile_text
from compiler.weights import weight_specs
from equivalence_cases import CASES, case_data  # tests/ is on sys.path under pytest
from example_specs import CONCRETE
from frameworks import need

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted(p.stem for p in CONCRETE)
NNSPEC_PACKAGES = {"compiler", "backends", "spec_lang", "nnspec"}
ALLOWED_IMPORTS = {"argparse", "csv", "math", "os", "numpy", "torch", "keras", "sklearn"}
TOLERANCE = 1e-9
STEPS = 5


# What the cases above leave out: an image output (NHWC back from NCHW), `same` average pooling with
# asymmetric padding, a layer named like a module method, cross-entropies from unfused probabilities,
# a linear Activation layer, elu's alpha, GlobalAveragePooling2D(keepdims) at the output; a graph whose kept
# values are named like what the programs use (F, keras, torch, layers, x, dtype, the tie-rule helper); an
# image Input taken again by a later line, and linear Activations (no line of their own) whose values are kept;
# Normalizations that adapt on the data as it reaches them through the graph.
EDGES = {
    "edge-image-output": """model edge_image {
        Input([7, 9, 2])
        Conv2D(3, 2, strides=2, padding=same, name="forward")
        AveragePooling2D(3, strides=2, padding=same)
        Conv2D(2, 3, padding=same, activation=leaky_relu, name="x")
    }
    train { loss = mse optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 2 }""",
    "edge-unfused-categorical": """model edge_cat {
        Input([5]) Dense(4, activation=softmax, name="my.layer-1") Dropout(0.0)
    }
    train { loss = categorical_crossentropy optimizer = rmsprop(learning_rate=0.01) batch_size = 8 seed = 2 }""",
    "edge-unfused-binary": """model edge_bin {
        Input([5]) Dense(3, activation=elu(alpha=0.5)) Activation(linear) Dense(2, activation=sigmoid) Dropout(0.0)
    }
    train { loss = binary_crossentropy optimizer = sgd(learning_rate=0.1, momentum=0.5) batch_size = 8 seed = 2 }""",
    "edge-gap-keepdims-output": """model edge_gap {
        Input([6, 6, 3])
        Conv2D(4, 3, activation=gelu(approximate=true))
        MaxPooling2D(3, strides=2, padding=same)
        GlobalAveragePooling2D(keepdims=true)
    }
    train { loss = mae optimizer = adagrad(learning_rate=0.1) batch_size = 8 seed = 2 }""",
    "edge-graph-shadowing-names": """model edge_shadow {
        Input([6])
        f = Dense(4, activation=relu, name="F")
        k = Dense(4, name="keras")(f)
        t = Dense(4, activation=tanh, name="torch")(f)
        m = Maximum(name="tf_maximum")(f, k, t)
        d = Minimum(name="dtype")(m, k)
        Add(name="x")(d, f)
        Dense(2, name="layers")
    }
    train { loss = mse optimizer = sgd(learning_rate=0.1) batch_size = 8 seed = 2 }""",
    "edge-graph-input-skip-and-pass-through": """model edge_skip {
        image = Input([4, 4, 2])
        c = Conv2D(2, 3, padding=same)
        s = Add()(c, image)
        same = Activation(linear)(s)
        Conv2D(2, 1)(image)
        kept = Activation(linear)
        Multiply()(same, s, kept)
        Flatten()
        Dense(3, activation=softmax)
    }
    train { loss = categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 2 }""",
    "edge-graph-adapting-normalization": """model edge_norm {
        Input([5])
        r = Rescaling(2.0, offset=1.0)
        a = Normalization()
        b = Normalization(invert=true)(r)
        Add()(a, b)
        Dense(3)
    }
    train { loss = mse optimizer = rmsprop(learning_rate=0.01) batch_size = 8 seed = 2 }""",
}


def without_dropout(text: str) -> str:
    """A case with its dropout rates set to 0, so that a training step is deterministic."""
    return re.sub(r"Dropout(2D)?\(0\.\d+\)", r"Dropout\1(0.0)", text)


@lru_cache(maxsize=None)
def spec_named(name: str) -> Spec:
    """A spec file of specs/, a case of tests/equivalence_cases.py, or a case '<name>-nodrop'."""
    if name in SPEC_FILES:
        return compile_file(ROOT / "specs" / f"{name}.nns").spec
    if name in EDGES:
        return compile_text(EDGES[name]).spec
    if name.endswith("-nodrop"):
        return compile_text(without_dropout(CASES[name[: -len("-nodrop")]])).spec
    return compile_text(CASES[name]).spec


def float32_exact(spec: Spec) -> Spec:
    """The spec with every float rounded to float32 (see the module docstring)."""
    def walk(value):
        if isinstance(value, float):
            return float(np.float32(value))
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        return value
    return Spec.model_validate(walk(spec.model_dump()))


FORWARD = ["digits_mlp", "vgg_cnn", "adamw_exponential", *CASES, *EDGES]
TRAIN = ["adamw_exponential", *(f"{name}-nodrop" for name in CASES), *EDGES]
# Keras is slower to build: its training comparisons run the layers of every case already (the first
# step's loss is a forward pass), so the inference-mode comparisons are kept to a representative few.
KERAS_FORWARD = ["digits_mlp", "vgg_cnn", "adamw_exponential", "cnn-flatten-sparse-adam",
                 "mlp-sparse-probabilities-amsgrad", "cnn-normalization-rmsprop"]


def data_for(spec: Spec, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``case_data``; targets shaped like the output where it is not 1-D, and 0/1 ones for several
    independent binary outputs."""
    binary = spec.training.loss.kind == "binary_crossentropy"
    if len(spec.output_shape) == 1 and not (binary and spec.output_shape[-1] > 1):
        return case_data(spec, n)
    rng = np.random.default_rng(17)
    x = rng.normal(size=(n, *spec.input_shape))
    return x, (rng.integers(0, 2, (n, *spec.output_shape)) if binary else rng.normal(size=(n, *spec.output_shape)))


def emitted_module(tmp_path: Path, spec: Spec, backend: str, name: str):
    """Emit ``spec`` to a file under ``tmp_path`` and import it as a module."""
    module_name = f"emitted_{backend}_{name.replace('-', '_')}"
    path = tmp_path / f"{module_name}.py"
    path.write_text(emit_source(spec, backend), encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def reference_weights(spec: Spec) -> dict[str, np.ndarray]:
    """The canonical float64 initial weights, with random moving statistics so BN's inference path counts,
    and random adapted statistics for Normalization's."""
    weights = initial_weights(spec, spec.training.seed, np.float64)
    rng = np.random.default_rng(0)
    for name in weights:
        if name.endswith(("moving_mean", "/mean")):
            weights[name] = rng.normal(size=weights[name].shape)
        elif name.endswith(("moving_variance", "/variance")):
            weights[name] = rng.uniform(0.5, 2.0, size=weights[name].shape)
    return weights


@pytest.fixture
def keras():
    keras = need("keras")
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    yield keras
    keras.config.set_floatx(floatx)  # the emitted build_model sets both; other tests expect theirs
    keras.config.set_dtype_policy(policy)


@pytest.fixture
def torch():
    return need("torch")


# ---- the tables ---------------------------------------------------------------------------------------
def test_every_layer_kind_has_a_writer_in_both_emitters():
    assert set(torch_source.LAYERS) == set(LAYER_CLASSES)
    assert set(keras_source.LAYERS) == set(LAYER_CLASSES)


def test_every_activation_initializer_loss_and_optimizer_is_covered():
    kinds = set(get_args(ActivationKind))
    assert set(torch_source.ACTIVATIONS) == kinds
    ctx = keras_source.Context(spec_named("digits_mlp"))
    for kind in kinds:
        fn = ActivationFn(kind=kind, alpha=0.5 if kind in ("leaky_relu", "elu") else None)
        assert (keras_source.activation(fn, ctx) is None) == (kind == "linear")
    assert set(torch_source.INITIALIZERS) == set(INITIALIZER_KINDS) - {"auto"}
    assert set(keras_source.LOSS_CLASSES) == set(get_args(Loss.model_fields["kind"].annotation))
    assert set(RULES) == set(OPTIMIZER_CLASSES)


@pytest.mark.parametrize("kind", sorted(OPTIMIZER_CLASSES))
def test_the_emitted_optimizer_is_nnspecs_own_rule(kind):
    """The emitted torch program carries compiler.semantics.optimizers' functions verbatim, and the Keras
    program calls Keras' class with compiler.semantics.optimizers' arguments."""
    spec = compile_text(f"model m {{ Input([3]) Dense(2) }} train {{ loss = mse optimizer = {kind}(weight_decay=0.1) "
                        f"clip_norm = 1 }}" if kind in ("sgd", "adamw") else
                        f"model m {{ Input([3]) Dense(2) }} train {{ loss = mse optimizer = {kind} clip_norm = 1 }}").spec
    torch_program = emit_source(spec, "torch")
    r = RULES[kind]
    for fn in (r.slots, r.rate, r.update, decay, clip_scale) if kind in ("sgd", "adamw") else (r.slots, r.rate, r.update,
                                                                                                 clip_scale):
        assert inspect.getsource(fn) in torch_program, fn.__name__
    assert f"keras.optimizers.{r.keras_class}(" in emit_source(spec, "keras")


# ---- the source itself ------------------------------------------------------------------------------------
def imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", [*SPEC_FILES, *CASES, *EDGES])
def test_emitted_source_compiles_and_imports_only_its_framework(name, backend):
    spec = spec_named(name)
    source = emit_source(spec, backend, spec_path=f"specs/{name}.nns")
    compile(source, f"{name}_{backend}.py", "exec")
    modules = imported_modules(source)
    assert not modules & NNSPEC_PACKAGES
    assert modules <= ALLOWED_IMPORTS, modules - ALLOWED_IMPORTS
    assert ("sklearn" in modules) == (spec.training.data is not None
                                      and spec.training.data.kind in ("builtin", "two_tasks"))  # two_tasks: digits
    assert (backend in modules) and ({"torch", "keras"} - {backend}).isdisjoint(modules)
    for function in ("build_model", "load_data", "train", "get_weights", "set_weights", "predict", "train_step",
                     "main"):
        assert f"\ndef {function}(" in source
    assert source.rstrip().endswith('if __name__ == "__main__":\n    main()')


def test_only_what_the_spec_uses_is_emitted():
    digits = emit_source(spec_named("digits_mlp"), "torch")
    for absent in ("KerasBatchNorm", "F.pad", "avg_pool2d_same", "l1_l2(", "EPSILON", "clip_gradients", "sgd_update",
                   "permute", "self.logits"):
        assert absent not in digits, absent
    assert "class KerasOptimizer(torch.optim.Optimizer)" in digits and "def adam_update(" in digits
    assert "return sparse_categorical_crossentropy_from_logits(torch, z, y)" in digits
    vgg = emit_source(spec_named("vgg_cnn"), "torch")
    assert "class KerasBatchNorm" in vgg and "x.permute(0, 3, 1, 2)" in vgg and "self.logits = x" in vgg
    cnn = emit_source(spec_named("cnn-flatten-sparse-adam"), "torch")
    assert "value=-math.inf" in cnn and "x.permute(0, 2, 3, 1).flatten(1)" in cnn and "F.pad(x, (0, 1, 0, 1))" in cnn
    assert "class LearningRate" not in emit_source(spec_named("digits_mlp"), "keras")
    adamw = emit_source(spec_named("adamw_exponential"), "keras")
    assert "class LearningRate(keras.optimizers.schedules.LearningRateSchedule)" in adamw
    assert "keras.optimizers.AdamW(" in adamw and "restore_best_weights=True" in adamw


def test_a_spec_without_train_section_is_refused():
    spec = compile_text("model m { Input([2]) Dense(1) }").spec
    for backend in ("torch", "keras"):
        with pytest.raises(EmitError, match="no train section"):
            emit_source(spec, backend)


# ---- data -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in SPEC_FILES if spec_named(n).training.data is not None])
def test_load_data_gives_the_arrays_nnspec_trains_on(name, tmp_path, torch):
    spec = spec_named(name)
    module = emitted_module(tmp_path, spec, "torch", name)
    ours = module.load_data(dtype="float64")
    theirs = load_dataset(spec, dtype=np.float64)
    for a, b in zip(ours, (theirs.x_train, theirs.y_train, theirs.x_val, theirs.y_val)):
        if isinstance(a, dict):  # several inputs or outputs: a dict of arrays by key, as runtime's NamedArrays
            assert list(a) == list(b.keys())
            a, b = list(a.values()), list(b.values())
        else:
            a, b = [a], [b]
        for a_k, b_k in zip(a, b):
            assert a_k.dtype == b_k.dtype and a_k.shape == b_k.shape
            np.testing.assert_array_equal(a_k, b_k)


@pytest.mark.parametrize("kind", ["npz", "csv"])
def test_load_data_reads_the_users_file(kind, tmp_path, torch):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    if kind == "npz":
        np.savez(tmp_path / "d.npz", x=x, y=y)
        data = '"d.npz"'
    else:
        rows = ["a,b,y,c,d"] + [f"{r[0]!r},{r[1]!r},{t},{r[2]!r},{r[3]!r}" for r, t in zip(x.tolist(), y.tolist())]
        (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
        data = 'file("d.csv", label="y")'
    text = (f"model m {{ Input([4]) Dense(3) }} train {{ loss = categorical_crossentropy(from_logits=true) "
            f"optimizer = sgd validation_split = 0.2 data = {data} }}")
    spec_path = tmp_path / "m.nns"
    spec = compile_text(text, str(spec_path)).spec
    path = tmp_path / "programs" / "emitted_file_data.py"
    path.parent.mkdir()
    path.write_text(emit_source(spec, "torch", spec_path=spec_path, program_path=path))
    module_spec = importlib.util.spec_from_file_location("emitted_file_data", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    ours = module.load_data(dtype="float64")
    theirs = load_dataset(spec, base_dir=tmp_path, dtype=np.float64)
    for a, b in zip(ours, (theirs.x_train, theirs.y_train, theirs.x_val, theirs.y_val)):
        np.testing.assert_array_equal(a, b)


def assert_weights_match(final: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """Every weight within TOLERANCE of the reference, relative to its largest magnitude or its layer's when
    that is larger — ``tools.equiv.compare``'s rule: a bias that a BatchNormalization after it cancels (a
    residual body's Conv2D) holds only round-off, which is judged against its kernel."""
    scales = layer_scales(reference)
    for key, value in reference.items():
        assert relative_error(final[key], value, scales[key.split("/")[0]]) <= TOLERANCE, key


# ---- PyTorch against the NumPy reference -----------------------------------------------------------------------
@pytest.mark.parametrize("name", FORWARD)
def test_torch_forward_matches_numpy(name, tmp_path, torch):
    spec = spec_named(name)
    module = emitted_module(tmp_path, spec, "torch", name)
    weights = reference_weights(spec)
    model = module.build_model(dtype="float64")
    module.set_weights(model, weights)
    x, _ = data_for(spec, 24)
    expected = NumpyModel(spec, {k: v.copy() for k, v in weights.items()}).predict(x)
    assert relative_error(module.predict(model, x), expected) <= TOLERANCE
    back = module.get_weights(model)
    assert set(back) == {w.name for w in weight_specs(spec)}
    for key, value in weights.items():
        np.testing.assert_array_equal(back[key], value)


@pytest.mark.parametrize("name", TRAIN)
def test_torch_training_steps_match_numpy(name, tmp_path, torch):
    spec = spec_named(name)
    assert not uses_dropout(spec)
    module = emitted_module(tmp_path, spec, "torch", name)
    x, y = data_for(spec, 40)
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    model = module.build_model(dtype="float64")
    module.set_weights(model, initial_weights(spec, spec.training.seed, np.float64))
    assert hasattr(module, "adapt") == torch_source.adapts(spec)  # a program adapts exactly when it must
    if torch_source.adapts(spec):  # Normalization learns from the data first, as run_canonical's trainers do
        module.adapt(model, x)
    optimizer = module.make_optimizer(model)
    losses = [module.train_step(model, optimizer, x[idx], y[idx], step)[0]
              for step, idx in enumerate(step_batches(len(x), spec.training.batch_size, spec.training.seed, STEPS))]
    assert relative_error(losses, reference.losses) <= TOLERANCE
    assert_weights_match(module.get_weights(model), reference.weights)


# ---- Keras against the NumPy reference --------------------------------------------------------------------------
@pytest.mark.parametrize("name", KERAS_FORWARD)
def test_keras_forward_matches_numpy(name, tmp_path, keras):
    spec = float32_exact(spec_named(name))
    module = emitted_module(tmp_path, spec, "keras", name)
    weights = reference_weights(spec)
    model = module.build_model(dtype="float64")
    module.set_weights(model, weights)
    x, _ = data_for(spec, 24)
    expected = NumpyModel(spec, {k: v.copy() for k, v in weights.items()}).predict(x)
    assert relative_error(module.predict(model, x), expected) <= TOLERANCE
    back = module.get_weights(model)
    assert set(back) == {w.name for w in weight_specs(spec)}


def keras_losses(module, spec, x, y, steps):
    model = module.compile_model(module.build_model(dtype="float64"))
    model.run_eagerly = True  # Keras' own train step, untraced: faster for a few steps of a small model
    module.set_weights(model, initial_weights(spec, spec.training.seed, np.float64))
    assert hasattr(module, "adapt") == keras_source.adapts(spec)  # a program adapts exactly when it must
    if keras_source.adapts(spec):  # Normalization learns from the data first, as run_canonical's trainers do
        module.adapt(model, x)
    losses = [module.train_step(model, x[idx], y[idx])
              for idx in step_batches(len(x), spec.training.batch_size, spec.training.seed, steps)]
    return losses, module.get_weights(model)


@pytest.mark.parametrize("name", TRAIN)
def test_keras_training_steps_match_numpy(name, tmp_path, keras):
    spec = float32_exact(spec_named(name))
    module = emitted_module(tmp_path, spec, "keras", name)
    x, y = data_for(spec, 40)
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    losses, final = keras_losses(module, spec, x, y, STEPS)
    assert relative_error(losses, reference.losses) <= TOLERANCE
    assert_weights_match(final, reference.weights)


def test_keras_float32_rounding_is_the_only_gap(tmp_path, keras):
    """With the spec's own values Keras differs only by its float32 hyperparameters: small, and larger
    than round-off (the reason the comparisons above round the spec first)."""
    spec = spec_named("mlp-sgd-weight-decay-momentum-nodrop")
    module = emitted_module(tmp_path, spec, "keras", "unrounded")
    x, y = data_for(spec, 40)
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    losses, _ = keras_losses(module, spec, x, y, STEPS)
    assert 1e-12 < relative_error(losses, reference.losses) < 1e-6


# ---- graphs ------------------------------------------------------------------------------------------------------
# The graph rows of tests/equivalence_cases.py (residuals, branches, every merge) and the shadowing edge run
# through every test above; these add several inputs and outputs, and how the programs read.
TWO_BY_TWO = """model two_by_two {
    image = Input([5, 5, 2])
    meta = Input([3])
    Conv2D(3, 3, padding=same, activation=relu)(image)
    residual {
        Conv2D(3, 3, padding=same, use_bias=false)
        BatchNormalization()
    }
    pooled = GlobalAveragePooling2D()
    features = Concatenate()(pooled, meta)
    output label = Dense(3, activation=softmax)(features)
    output value = Dense(1)(features)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 11 }"""


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_two_input_two_output_program_matches_numpy(backend, tmp_path, request):
    """forward(self, image, meta) / keras.Model(inputs=[image, meta], outputs=[...]): predict takes the inputs by
    name or in order and gives one array per output, as NumpyModel does."""
    request.getfixturevalue(backend)
    spec = compile_text(TWO_BY_TWO).spec
    if backend == "keras":
        spec = float32_exact(spec)
    module = emitted_module(tmp_path, spec, backend, "two_by_two")
    weights = reference_weights(spec)
    model = module.build_model(dtype="float64")
    module.set_weights(model, weights)
    rng = np.random.default_rng(3)
    x = {"image": rng.normal(size=(12, 5, 5, 2)), "meta": rng.normal(size=(12, 3))}
    expected = NumpyModel(spec, {k: v.copy() for k, v in weights.items()}).predict(x)
    for given in (x, [x["image"], x["meta"]]):
        outputs = module.predict(model, given)
        assert len(outputs) == 2
        for ours, theirs in zip(outputs, expected):
            assert relative_error(ours, theirs) <= TOLERANCE
    assert set(module.get_weights(model)) == {w.name for w in weight_specs(spec)}


def forward_body(source: str) -> list[str]:
    """The lines of the emitted torch model's forward (the module written just before build_model), stripped."""
    start = source.rindex("    def forward(self", 0, source.index("\ndef build_model("))  # the model's, last
    body = source[start:].split("\n")[1:]
    return [line.strip() for line in body[:next(i for i, line in enumerate(body) if line.strip().startswith("return"))
                                           + 1]]


def test_the_programs_write_the_graph_out():
    """A residual's skip is an expression over named values in torch's forward and a layer call on a list in
    Keras; a stack keeps x alone and stays a keras.Sequential."""
    spec = spec_named("graph-residual-branches-adam")
    torch_program, keras_program = emit_source(spec, "torch"), emit_source(spec, "keras")
    forward = forward_body(torch_program)
    for line in ("conv2d = F.relu(self.conv2d(x))", "x = x + conv2d  # add", "activation = F.relu(x)",
                 "x = x + activation  # add_1", "x = self.conv2d_6(activation_1)", "add_2 = batch_normalization_2 + x",
                 "x = torch.cat([conv2d_7, x, add_2], dim=1)  # concatenate"):
        assert line in forward, (line, forward)
    assert 'layers.Add(name="add")([' in keras_program and "keras.Model(inputs=" in keras_program
    assert "keras.Sequential(" not in keras_program
    merges = emit_source(spec_named("graph-merges-sgd"), "torch")
    assert "def tf_maximum(*xs):" in merges and "def tf_minimum(*xs):" in merges
    forward = forward_body(merges)
    assert "maximum = tf_maximum(conv2d_1, conv2d_2, conv2d)" in forward
    assert not any("torch.maximum(" in line or "torch.minimum(" in line for line in forward)  # they split ties
    for name in [*SPEC_FILES, *CASES, *EDGES]:
        spec = spec_named(name)
        if not Graph.of(spec.layers, spec.output_names).is_stack:
            continue
        forward = forward_body(emit_source(spec, "torch"))
        assert all(re.match(r"(x = |self\.|return x$|#)", line) for line in forward), (name, forward)
        keras_program = emit_source(spec, "keras")
        assert "keras.Sequential(" in keras_program and "keras.Model(" not in keras_program, name


# ---- standalone, end to end ------------------------------------------------------------------------------------------
BLOCK_NNSPEC = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"compiler", "backends", "spec_lang", "nnspec"}:
            raise ImportError(f"the emitted program imported nnspec's {name}")
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module", autouse=True)
def standalone_runs(request, tmp_path_factory):
    """`python digits_mlp_<backend>.py --epochs 1 --save w.npz` for both backends, in a directory outside
    the repository, without PYTHONPATH, with nnspec's packages made unimportable. Started when the module's
    first test starts (when the standalone tests are selected), so that they run beside the others."""
    if not any(item.name.startswith("test_digits_program_runs_standalone") for item in request.session.items):
        yield {}
        return
    spec = spec_named("digits_mlp")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    runs = {}
    for backend in ("torch", "keras"):
        if importlib.util.find_spec(backend) is None:
            continue
        where = tmp_path_factory.mktemp(f"standalone_{backend}")
        program = where / f"digits_mlp_{backend}.py"
        program.write_text(emit_source(spec, backend, spec_path="specs/digits_mlp.nns"))
        runs[backend] = (where, subprocess.Popen(
            [sys.executable, "-c", BLOCK_NNSPEC, str(program), "--epochs", "1", "--save", "w.npz"],
            cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    yield runs
    for _, process in runs.values():
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_digits_program_runs_standalone(backend, standalone_runs):
    need(backend)
    where, process = standalone_runs[backend]
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]
    assert "1438 training samples, 359 for validation" in stdout
    assert "val_accuracy" in stdout
    with np.load(where / "w.npz", allow_pickle=False) as saved:
        shapes = {k: saved[k].shape for k in saved.files}
    assert shapes == {w.name: w.shape for w in weight_specs(spec_named("digits_mlp"))}


# ---- the command ----------------------------------------------------------------------------------------------------
def cli():
    app = typer.Typer(add_completion=False)
    app.command("emit")(emit)
    app.command("unused")(lambda: None)  # two commands, so that `emit` is a subcommand as in nnspec
    return app


def test_emit_command_writes_the_program(tmp_path):
    runner = CliRunner()
    out = tmp_path / "digits_keras.py"
    result = runner.invoke(cli(), ["emit", str(ROOT / "specs" / "digits_mlp.nns"), "--backend", "keras", "-o",
                                   str(out)])
    assert result.exit_code == 0, result.output
    assert "keras.Sequential(" in out.read_text()
    result = runner.invoke(cli(), ["emit", str(ROOT / "specs" / "vgg_cnn.nns")])
    assert result.exit_code == 0 and "class VggCnn(nn.Module):" in result.stdout
    compile(result.stdout, "vgg_cnn.py", "exec")


def test_emit_data_option_and_relative_data_path(tmp_path, monkeypatch, torch):
    """`--data NAME|PATH` as `nnspec train` takes it; a data file is written into the program relative to
    the program (found from its own location, whatever the current directory), never as an absolute path
    of the machine that emitted it; relative to the current directory on standard output."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs" / "data").mkdir(parents=True)
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "specs" / "data" / "d.npz", x=rng.normal(size=(20, 4)), y=rng.integers(0, 3, 20))
    np.savez(tmp_path / "other.npz", x=rng.normal(size=(12, 4)), y=rng.integers(0, 3, 12))
    (tmp_path / "specs" / "m.nns").write_text(
        'model m { Input([4]) Dense(3) } train { loss = categorical_crossentropy(from_logits=true) optimizer = sgd '
        'data = "data/d.npz" }')
    (tmp_path / "programs").mkdir()
    runner = CliRunner()

    def emitted(*args) -> str:
        result = runner.invoke(cli(), ["emit", "specs/m.nns", *args])
        assert result.exit_code == 0, result.output
        return result.stdout if "-o" not in args else (tmp_path / args[args.index("-o") + 1]).read_text()

    def load(name: str):
        module_spec = importlib.util.spec_from_file_location(name, tmp_path / "programs" / f"{name}.py")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module

    source = emitted("-o", "programs/from_spec.py")
    assert '"../specs/data/d.npz"' in source and str(tmp_path) not in source
    assert 'DATA_FILE = "specs/data/d.npz"' in emitted()  # standard output: relative to here
    assert '"../other.npz"' in emitted("--data", "other.npz", "-o", "programs/from_option.py")
    assert "load_iris()" in emitted("--data", "iris")
    monkeypatch.chdir(tmp_path / "specs")  # the program finds its data wherever it runs
    assert len(load("from_spec").load_data()[0]) == 20
    assert len(load("from_option").load_data()[0]) == 12
    for bad, says in (("irsi", "did you mean 'iris'"), ("wine", "13 features per sample")):
        result = runner.invoke(cli(), ["emit", str(tmp_path / "specs" / "m.nns"), "--data", bad])
        assert result.exit_code == 2 and says in result.output, result.output


def test_emit_command_reports_errors(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.nns"
    bad.write_text("model m { Input([2]) Dense(1, activaton=relu) }")
    result = runner.invoke(cli(), ["emit", str(bad)])
    assert result.exit_code == 2 and "activaton" in result.output
    no_train = tmp_path / "no_train.nns"
    no_train.write_text("model m { Input([2]) Dense(1) }")
    result = runner.invoke(cli(), ["emit", str(no_train), "--backend", "keras"])
    assert result.exit_code == 2 and "no train section" in result.output
    help_text = runner.invoke(cli(), ["emit", "--help"]).output
    assert "nnspec emit specs/digits_mlp.nns" in help_text


def test_keras_program_builds_in_float64_after_keras_ran_in_float32(tmp_path, keras):
    """Keras caches its global dtype policy on first use; the emitted program must not depend on
    running in a fresh process."""
    keras.config.dtype_policy()  # what any earlier Keras use in the process does
    module = emitted_module(tmp_path, spec_named("digits_mlp"), "keras", "after_float32")
    model = module.build_model("float64")
    assert {w.dtype for w in model.weights} == {"float64"}
