"""The PyTorch backend against the NumPy reference.

- the lowering table is complete (every layer kind, activation, loss, optimizer, initializer);
- canonical mode, float64: every spec with data and every case of the generated matrix trains
  50 steps with per-step losses, first outputs and final weights within 1e-9 of NumPy's; one
  step's layer outputs and gradients agree too (also the seed CNN, on two random images);
  the padding/pooling geometry is swept layer by layer; float32 agrees within 1e-4;
- native mode: initial weights follow their distributions (Kolmogorov–Smirnov), weights move
  between the backends with the same predictions, and training works;
- divergence is refused before the update and names the layer; dtypes are kept.

torch runs single-threaded here: these tensors are tiny, and on a busy 2-core machine OpenMP's
threads waiting for each other cost more than the work (seconds instead of tens of ms).
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest

from example_specs import CONCRETE, SHRUNK
from frameworks import need

torch = need("torch")

from equivalence_cases import CASES, case_data  # noqa: E402  (tests/ is on sys.path under pytest)

from runtime.trainers import make_trainer  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from tools.equiv import compare, relative_error, run_canonical, tolerance_for  # noqa: E402
from compiler.semantics.divergence import Diverged  # noqa: E402
from runtime.loop import fit  # noqa: E402
from compiler.semantics.initializers import initial_weights  # noqa: E402
from backends.numpy.model import NumpyModel  # noqa: E402
from backends.numpy.trainer import NumpyTrainer  # noqa: E402
from backends.torch.initializers import SAMPLERS  # noqa: E402
from backends.torch.layers import ACTIVATIONS, LOWERINGS, KerasBatchNorm, RunContext  # noqa: E402
from backends.torch.losses import LOSSES  # noqa: E402
from backends.torch.optimizers import OPTIMIZERS  # noqa: E402
from backends.torch.trainer import TorchTrainer  # noqa: E402
from compiler.ir import training as tr  # noqa: E402
from compiler.ir import values as iv  # noqa: E402
from compiler.ir.layers import LAYER_CLASSES  # noqa: E402
from compiler.pipeline import compile_file, compile_text  # noqa: E402
from spec_lang.diagnostics import SpecError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = list(CONCRETE)
STEPS = 50
SUBSET = 256
TOL64 = tolerance_for(np.float64)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compile_spec(text: str):
    return compile_text(text).spec


def spec_with_data(path: Path):
    spec = compile_file(path).spec
    data = load_dataset(spec, base_dir=path.parent, dtype=np.float64)
    return spec, data.x_train[:SUBSET], data.y_train[:SUBSET]


# Every example spec but seed_cnn: its 128x128 images with 128-filter convolutions make 50 float64 steps take
# many minutes here; test_seed_cnn_one_step checks it on two of its own images. The graphs and the 32x32 image
# models (example_specs.SHRUNK) run on shrunk data in tests/test_example_equivalence.py.
SPECS_WITH_DATA = [p for p in SPECS if compile_file(p).spec.training.data is not None and p.stem != "seed_cnn"
                   and p not in SHRUNK]


# ---- completeness ------------------------------------------------------------------------------
def test_lowering_table_is_complete():
    assert set(LOWERINGS) == set(LAYER_CLASSES)
    assert set(ACTIVATIONS) == set(typing.get_args(iv.ActivationKind))
    assert set(LOSSES) == set(typing.get_args(tr.Loss.model_fields["kind"].annotation))
    assert set(OPTIMIZERS) == set(tr.OPTIMIZER_CLASSES)
    assert set(SAMPLERS) == set(iv.INITIALIZER_KINDS) - {"auto"}


def test_every_spec_with_data_is_covered():
    assert len(SPECS_WITH_DATA) >= len(SPECS) - 1 - len(SHRUNK)  # seed_cnn is checked below
    kinds = set()
    for text in CASES.values():
        kinds |= {layer.kind for layer in compile_spec(text).layers}
    assert kinds == set(LAYER_CLASSES)


# ---- canonical mode, float64: step for step ----------------------------------------------------------
def assert_equivalent(spec, x, y, steps=STEPS, dtype="float64", tolerance=TOL64):
    ref = run_canonical("numpy", spec, x, y, steps=steps, dtype=dtype)
    got = run_canonical("torch", spec, x, y, steps=steps, dtype=dtype)
    result = compare(got, ref, tolerance)
    worst = max(result.weight_errors.values(), default=0.0)
    assert result.step is None, f"losses part at step {result.step}: max relative error {result.loss_error:.2e}"
    assert result.layer is None, f"final weights of {result.layer} differ: {result.weight_errors}"
    assert worst <= tolerance
    assert relative_error(got.first_outputs, ref.first_outputs) <= tolerance
    assert set(got.weights) == set(ref.weights)
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_case_matches_numpy_float64(case):
    spec = compile_spec(CASES[case])
    x, y = case_data(spec, 40)
    assert_equivalent(spec, x, y)


@pytest.mark.parametrize("path", SPECS_WITH_DATA, ids=lambda p: p.stem)
def test_spec_matches_numpy_float64(path):
    spec, x, y = spec_with_data(path)
    assert_equivalent(spec, x, y)


OPTIMIZER_VARIANTS = [
    "sgd(learning_rate=0.1)", "sgd(learning_rate=0.1, weight_decay=0.05)", "sgd(learning_rate=0.1, momentum=0.9)",
    "adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=0.001)", "adamw(learning_rate=0.01, amsgrad=true)",
    "rmsprop(learning_rate=0.01)", "rmsprop(learning_rate=0.01, momentum=0.5, rho=0.8, epsilon=0.01)",
    "adagrad(learning_rate=0.1, initial_accumulator_value=0, epsilon=0.01)",
]


@pytest.mark.parametrize("optimizer", OPTIMIZER_VARIANTS)
def test_optimizer_variants_match_numpy(optimizer):
    """Each update rule under a learning rate that changes every step (where Keras' and torch's forms differ)."""
    spec = compile_spec(f"""model o {{ Input([5]) Dense(4, activation=tanh) Dense(3) }}
        train {{ loss = mse optimizer = {optimizer} schedule = exponential(decay_steps=1, decay_rate=0.8)
                 clip_norm = 0.5 batch_size = 6 seed = 2 }}""")
    x, y = case_data(spec, 30)
    assert_equivalent(spec, x, y, steps=15)


@pytest.mark.parametrize("case", ["cnn-flatten-sparse-adam"])
@pytest.mark.parametrize("path", [ROOT / "specs" / "digits_mlp.nns"], ids=["digits_mlp"])
def test_float32_matches_numpy(case, path):
    spec = compile_spec(CASES[case])
    x, y = case_data(spec, 40, np.float32)
    assert_equivalent(spec, x, y, dtype="float32", tolerance=tolerance_for(np.float32))
    spec = compile_file(path).spec
    data = load_dataset(spec, dtype=np.float32)
    assert_equivalent(spec, data.x_train[:SUBSET], data.y_train[:SUBSET], dtype="float32",
                      tolerance=tolerance_for(np.float32))


# ---- one step: every layer's output and every gradient -----------------------------------------------
def pair(spec, dtype=np.float64, seed=None):
    seed = spec.training.seed if seed is None else seed
    weights = initial_weights(spec, seed, dtype)
    numpy_side = NumpyTrainer(spec, {k: v.copy() for k, v in weights.items()}, dtype=dtype, seed=seed)
    torch_side = TorchTrainer(spec, weights, dtype=dtype, seed=seed, mode="canonical")
    return numpy_side, torch_side


def assert_same_probe(spec, x, y, tolerance=TOL64):
    numpy_side, torch_side = pair(spec)
    outputs_np, grads_np = numpy_side.probe(x, y)
    before = torch_side.get_weights()
    outputs_t, grads_t = torch_side.probe(x, y)
    assert set(outputs_t) == set(outputs_np) and set(grads_t) == set(grads_np)
    for name, value in outputs_np.items():
        assert outputs_t[name].shape == value.shape, name
        assert relative_error(outputs_t[name], value) <= tolerance, name
    assert_same_gradients(grads_t, grads_np, tolerance)
    after = torch_side.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before), "a probe must change nothing"


def assert_same_gradients(got: dict, want: dict, tolerance: float) -> None:
    """Relative to each gradient's largest entry, floored at 1e-3 of the model's largest: a bias that
    a BatchNormalization cancels has a true gradient of 0, and both sides give round-off (~1e-16)."""
    overall = max(float(np.abs(g).max()) for g in want.values())
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        scale = max(float(np.abs(value).max()), 1e-3 * overall)
        error = float(np.abs(got[name] - value).max()) / scale
        assert error <= tolerance, (name, error)


@pytest.mark.parametrize("case", list(CASES))
def test_one_step_outputs_and_gradients(case):
    spec = compile_spec(CASES[case])
    x, y = case_data(spec, 8)
    assert_same_probe(spec, x, y)


def test_seed_cnn_one_step():
    """The seed's CNN (128x128x3, 128 filters) on two of its own images (generated shapes)."""
    path = ROOT / "specs" / "seed_cnn.nns"
    spec = compile_file(path).spec
    data = load_dataset(spec, base_dir=path.parent, dtype=np.float64)
    x, y = data.x_train[:2], data.y_train[:2]
    assert_same_probe(spec, x, y)


def test_gradients_are_those_of_one_plain_sgd_step():
    """``gradients`` is what the optimizer uses: w − lr·g is the weight after one plain SGD step."""
    text = CASES["mlp-categorical-softmax-layer-sgd"].replace("warmup(steps=3)", "constant")
    spec = compile_spec(text)
    x, y = case_data(spec, 8)
    _, torch_side = pair(spec)
    before, grads = torch_side.get_weights(), torch_side.gradients(x, y, 0)
    torch_side.train_batch(x, y, 0, 0.1)
    after = torch_side.get_weights()
    for name, g in grads.items():
        np.testing.assert_allclose(after[name], before[name] - 0.1 * g, rtol=0, atol=1e-15)


GEOMETRY = [
    (layer, size)
    for size in [(5, 7), (6, 6), (4, 9)]
    for layer in [
        *(f"Conv2D(2, {k}, strides={s}, padding={p})" for k in (1, 2, 3, "[2, 3]") for s in (1, 2, 3)
          for p in ("valid", "same")),
        *(f"Conv2D(2, {k}, dilation_rate={d}, padding={p})" for k in (2, 3) for d in (2, "[1, 2]")
          for p in ("valid", "same")),
        *(f"{pool}({k}, strides={s}, padding={p})" for pool in ("MaxPooling2D", "AveragePooling2D")
          for k in (2, 3, "[3, 2]") for s in (1, 2, 3) for p in ("valid", "same")),
    ]
]


@pytest.mark.parametrize("kind", ["Conv2D", "MaxPooling2D", "AveragePooling2D"])
def test_padding_and_pooling_geometry(kind):
    """TensorFlow's asymmetric ``same`` padding, −∞ for max pooling, real-pixel counts for average
    pooling: forward and backward of each configuration against NumPy's."""
    rng = np.random.default_rng(0)
    checked = 0
    for layer, (h, w) in GEOMETRY:
        if not layer.startswith(kind):
            continue
        try:
            spec = compile_spec(f"model g {{ Input([{h}, {w}, 3]) Conv2D(3, 1) {layer} Flatten() Dense(2) }}"
                                "train { loss = mse optimizer = sgd batch_size = 4 }")
        except SpecError:  # a window larger than the input: not a model
            continue
        x = rng.normal(size=(4, h, w, 3))
        y = rng.normal(size=(4, 2))
        numpy_side, torch_side = pair(spec)
        out_np, grads_np = numpy_side.probe(x, y)
        out_t, grads_t = torch_side.probe(x, y)
        for name in out_np:
            assert relative_error(out_t[name], out_np[name]) <= TOL64, (layer, (h, w), name)
        assert_same_gradients(grads_t, grads_np, TOL64)
        checked += 1
    assert checked > 20



def test_same_max_pooling_pads_without_copying_the_input_where_torch_can():
    """The seed CNN's MaxPooling2D(3, padding=same) (128 → 43: TensorFlow pads 1 pixel at the bottom and
    right) runs as torch's implicit padding with ceil_mode, not as an −∞-padded copy of each image
    batch (a copy as large as the activation, ~10% of a GPU step); the geometry sweep above proves the
    windows are TensorFlow's."""
    from backends.torch.layers import MaxPool2d

    spec = compile_file(ROOT / "specs" / "seed_cnn.nns").spec
    pools = [m for m in TorchTrainer(spec, dtype=np.float32).model.modules() if isinstance(m, MaxPool2d)]
    assert len(pools) == 2
    assert all(p.pre_pad is None for p in pools)
    assert pools[0].ceil_mode and pools[0].padding == (0, 0)  # 128: 1 pixel bottom/right, the last window clipped
    assert pools[1].padding == (1, 1)  # 43: 1 pixel each side, torch's padding= as before

IMAGE_TENSORS = [
    # softmax over the channels of a 4-D tensor; an image-shaped model output (NHWC)
    "Conv2D(2, 3, padding=same, activation=softmax) Dropout(0.5)",
    # Dropout on an image: the mask is drawn in NHWC; Activation(softmax) on an image
    "Conv2D(3, 1) Activation(softmax) Dropout(0.5) Flatten() Dense(2)",
    # an activity regularizer on a conv; a (1, 1, C) output
    "Conv2D(3, 1, activity_regularizer=l2(0.1)) GlobalAveragePooling2D(keepdims=true)",
]


def test_fused_output_with_an_activity_regularizer():
    """The penalty is on the probabilities, while the loss takes the logits (as NumPy and Keras)."""
    spec = compile_spec("""model f { Input([5]) Dense(4, activation=relu)
        Dense(3, activation=softmax, activity_regularizer=l1l2(l1=0.1, l2=0.2)) }
        train { loss = sparse_categorical_crossentropy optimizer = sgd(learning_rate=0.1) batch_size = 5 }""")
    x, y = case_data(spec, 20)
    assert_equivalent(spec, x, y, steps=12)
    assert TorchTrainer(spec, dtype=np.float64).model.fused


@pytest.mark.parametrize("body", IMAGE_TENSORS)
def test_image_tensors_train_as_numpy(body):
    spec = compile_spec(f"model i {{ Input([4, 5, 3]) {body} }} train {{ loss = mse optimizer = adam batch_size = 4 }}")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4, 5, 3)), rng.normal(size=(8, *spec.output_shape))
    result = assert_equivalent(spec, x, y, steps=6)
    assert result.loss_error <= TOL64


def test_batch_norm_on_a_batch_of_one():
    """One value per channel: torch's batch_norm refuses it, Keras normalises with σ² = 0."""
    spec = compile_file(ROOT / "specs" / "adagrad.nns").spec
    x, y = case_data(spec, 1)
    numpy_side, torch_side = pair(spec)
    for step in range(3):
        loss_np, _ = numpy_side.train_batch(x, y, step, 0.05)
        loss_t, _ = torch_side.train_batch(x, y, step, 0.05)
        assert relative_error(loss_t, loss_np) <= TOL64
    weights = torch_side.get_weights()
    for name, value in numpy_side.get_weights().items():
        assert relative_error(weights[name], value) <= TOL64, name


BN_LAYOUT_SHAPES = [(8, 5, 2, 1), (8, 5, 1, 2), (1, 5, 2, 3), (8, 5, 1, 1), (1, 6, 4, 1), (4, 3, 3, 3)]
BN_GRADIENTS = {  # how a gradient may arrive: the memory layouts a size-1 axis makes ambiguous
    "nhwc": lambda g: g.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),  # as Flatten (NHWC) sends it
    "channels-last": lambda g: g.contiguous(memory_format=torch.channels_last),
    "expanded": lambda g: g[:, :, :1, :1].expand_as(g),  # as GlobalAveragePooling2D's backward sends it
    "contiguous": lambda g: g.contiguous(),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("gradient", sorted(BN_GRADIENTS))
@pytest.mark.parametrize("input_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("shape", BN_LAYOUT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_gradient_with_ambiguous_layouts(shape, input_format, gradient, dtype):
    """KerasBatchNorm's gradients (input, γ, β) equal those of the formula written out, whatever memory
    layouts the input and the incoming gradient have, also where a size-1 axis makes NCHW and NHWC
    strides ambiguous. (A torch 2.13 CPU bug in batch_norm's backward was once suspected here; it does not
    show on any of these cases, so the adapter calls F.batch_norm as it is.)"""
    torch.manual_seed(0)
    n, c, h, w = shape
    spec = compile_spec(f"model b {{ Input([{h}, {w}, {c}]) BatchNormalization() Flatten() Dense(1) }}"
                        "train { loss = mse optimizer = sgd }")
    bn = KerasBatchNorm(spec.layers[1], RunContext(training=True)).to(dtype)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(c))
        bn.bias.copy_(torch.randn(c))
    x = torch.randn(*shape, dtype=dtype).contiguous(memory_format=input_format).requires_grad_()
    g = BN_GRADIENTS[gradient](torch.randn(*shape, dtype=dtype))
    got = torch.autograd.grad(bn(x), [x, bn.weight, bn.bias], g)
    xr = x.detach().contiguous().requires_grad_()
    var, mean = torch.var_mean(xr, dim=(0, 2, 3), correction=0, keepdim=True)
    wr, br = bn.weight.detach().clone().requires_grad_(), bn.bias.detach().clone().requires_grad_()
    ref = (xr - mean) / torch.sqrt(var + 1e-3) * wr.reshape(1, -1, 1, 1) + br.reshape(1, -1, 1, 1)
    want = torch.autograd.grad(ref, [xr, wr, br], g.contiguous())
    scale = float(g.abs().max()) * n * h * w  # β's gradient sums n·h·w values of g
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name, a, e in zip(("input", "gamma", "beta"), got, want):
        assert float((a - e).abs().max()) <= tol * scale, name


# ---- the shared loop -----------------------------------------------------------------------------
def test_fit_history_matches_numpy():
    """The whole shared loop (batches, validation, metrics, early stopping) on both backends."""
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    data = load_dataset(spec, dtype=np.float64)
    x, y, xv, yv = data.x_train[:300], data.y_train[:300], data.x_val[:100], data.y_val[:100]
    histories, weights = [], []
    for backend in ("numpy", "torch"):
        trainer = make_trainer(backend, spec, dtype=np.float64, mode="canonical")
        histories.append(fit(trainer, spec, x, y, xv, yv, epochs=3, seed=spec.training.seed))
        weights.append(trainer.get_weights())
    (h_np, h_t), (w_np, w_t) = histories, weights
    assert len(h_np.epochs) == len(h_t.epochs) and h_np.best_epoch == h_t.best_epoch
    for e_np, e_t in zip(h_np.epochs, h_t.epochs):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            assert relative_error(e_t[key], e_np[key]) <= TOL64, key
    for name in w_np:
        assert relative_error(w_t[name], w_np[name]) <= TOL64, name


# ---- native mode -----------------------------------------------------------------------------------
NATIVE_INIT = """model n {
    Input([8, 8, 16])
    Conv2D(64, 3, kernel_initializer=he_normal, bias_initializer=constant(0.25))
    Flatten()
    Dense(300, kernel_initializer=glorot_normal, bias_initializer=random_normal(mean=1, stddev=0.5))
    Dense(200, kernel_initializer=he_uniform)
    Dense(150, kernel_initializer=truncated_normal(mean=0.5, stddev=0.3))
    Dense(100, kernel_initializer=lecun_uniform, bias_initializer=random_uniform(minval=-1, maxval=3))
    Dense(120, kernel_initializer=orthogonal(gain=2))
    Dense(10, kernel_initializer=lecun_normal)
}
train { loss = mse optimizer = sgd seed = 5 }
"""


def test_native_initial_weights_follow_their_distributions():
    from scipy import stats

    spec = compile_spec(NATIVE_INIT)
    weights = TorchTrainer(spec, dtype=np.float64, mode="native").get_weights()
    trunc = lambda s: stats.truncnorm(-2, 2, scale=s).cdf  # noqa: E731
    fan_in = {"conv2d/kernel": 3 * 3 * 16, "dense/kernel": 36 * 64, "dense_1/kernel": 300,
              "dense_5/kernel": 120}
    expected = {
        # he_normal with the receptive field in the fan: σ = √(2/fan_in)/0.8796, truncated at ±2σ
        "conv2d/kernel": trunc(np.sqrt(2 / fan_in["conv2d/kernel"]) / 0.87962566103423978),
        "dense/kernel": trunc(np.sqrt(1 / ((fan_in["dense/kernel"] + 300) / 2)) / 0.87962566103423978),
        "dense/bias": stats.norm(1, 0.5).cdf,
        "dense_1/kernel": stats.uniform(-np.sqrt(6 / 300), 2 * np.sqrt(6 / 300)).cdf,
        "dense_2/kernel": stats.truncnorm(-2, 2, loc=0.5, scale=0.3).cdf,
        "dense_3/kernel": stats.uniform(-np.sqrt(3 / 150), 2 * np.sqrt(3 / 150)).cdf,
        "dense_3/bias": stats.uniform(-1, 4).cdf,
        "dense_5/kernel": trunc(np.sqrt(1 / 120) / 0.87962566103423978),
    }
    for name, cdf in expected.items():
        values = weights[name].ravel()
        assert stats.kstest(values, cdf).pvalue > 1e-3, name
    assert np.all(weights["conv2d/bias"] == 0.25)
    assert weights["dense_2/kernel"].min() >= 0.5 - 0.6 and weights["dense_2/kernel"].max() <= 0.5 + 0.6
    q = weights["dense_4/kernel"]  # (100, 120): rows < cols, so Q·Qᵀ = gain²·I as Keras
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(100), atol=1e-10)
    # torch's own stream, not the canonical draw; the same seed gives the same weights
    canonical = initial_weights(spec, 5, np.float64)
    assert not np.allclose(canonical["dense_1/kernel"], weights["dense_1/kernel"])
    again = TorchTrainer(spec, dtype=np.float64, mode="native").get_weights()
    assert all(np.array_equal(again[k], weights[k]) for k in weights)
    other = TorchTrainer(spec, dtype=np.float64, mode="native", seed=6).get_weights()
    assert not np.array_equal(other["dense_1/kernel"], weights["dense_1/kernel"])


def test_native_dropout_rate():
    spec = compile_spec("model d { Input([4000]) Dropout(0.3) } train { loss = mse optimizer = sgd }")
    trainer = TorchTrainer(spec, dtype=np.float64, mode="native")
    trainer.ctx.training = True
    y = trainer.model(torch.ones(5, 4000, dtype=torch.float64))[0]
    kept = (y != 0).double().mean().item()
    assert abs(kept - 0.7) < 0.02 and torch.allclose(y[y != 0], torch.tensor(1 / 0.7, dtype=torch.float64))
    spec = compile_spec("model s { Input([3, 3, 2000]) SpatialDropout2D(0.5) Flatten() }"
                        "train { loss = mse optimizer = sgd }")
    trainer = TorchTrainer(spec, dtype=np.float64, mode="native")
    trainer.ctx.training = True
    y = trainer.model(torch.ones(2, 3, 3, 2000, dtype=torch.float64))[0].reshape(2, 3, 3, 2000)
    per_map = (y != 0).double().mean(dim=(1, 2))  # whole feature maps: all kept or all dropped
    assert set(per_map.unique().tolist()) <= {0.0, 1.0}
    assert abs(per_map.mean().item() - 0.5) < 0.05


def numpy_predictions(spec, weights, x):
    params = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}
    return NumpyModel(spec, params).predict(x)


def torch_predictions(trainer, x, y):
    return trainer.evaluate_batch(x, y)[1]


@pytest.mark.parametrize("path", ["vgg_cnn", "adagrad"])
def test_weights_trained_natively_load_into_numpy_and_back(path):
    spec, x, y = spec_with_data(ROOT / "specs" / f"{path}.nns")
    x, y, xv, yv = x[:128], y[:128], x[128:160], y[128:160]  # validation: the specs stop early on val_*
    trainer = make_trainer("torch", spec, dtype=np.float64, mode="native")
    fit(trainer, spec, x, y, xv, yv, epochs=2, seed=1)
    weights = trainer.get_weights()
    assert relative_error(torch_predictions(trainer, x, y), numpy_predictions(spec, weights, x)) <= 1e-12
    # and the other way: NumPy trains, torch loads
    numpy_side = NumpyTrainer(spec, dtype=np.float64)
    fit(numpy_side, spec, x, y, xv, yv, epochs=1, seed=2)
    loaded = TorchTrainer(spec, numpy_side.get_weights(), dtype=np.float64, mode="native")
    assert relative_error(torch_predictions(loaded, x, y), numpy_side.model.predict(x)) <= 1e-12
    assert all(np.array_equal(loaded.get_weights()[k], v) for k, v in numpy_side.get_weights().items())


def test_native_training_learns_digits():
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    data = load_dataset(spec, dtype=np.float32)
    trainer = make_trainer("torch", spec, dtype=np.float32, mode="native")
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=4, seed=42)
    assert history.epochs[-1]["val_accuracy"] > 0.9, history.epochs[-1]


@pytest.mark.parametrize("case,mode", [("digits_mlp", "native"), ("cnn-gap-keepdims-binary-rmsprop", "canonical"),
                                       ("mlp-sgd-weight-decay-momentum", "native"), ("mlp-mae-adagrad", "native"),
                                       ("mlp-sparse-probabilities-amsgrad", "canonical")])
def test_checkpoint_state_resumes_exactly(case, mode):
    """weights + state() after 3 steps, loaded into a new trainer, continue exactly as without a stop
    (optimizer slots and step counter; native mode's dropout masks follow from the seed and the step)."""
    if case in CASES:
        spec = compile_spec(CASES[case])
        x, y = case_data(spec, 24)
    else:
        spec, x, y = spec_with_data(ROOT / "specs" / f"{case}.nns")
        x, y = x[:48], y[:48]
    n = len(x) // 6
    batches = [(x[i * n:(i + 1) * n], y[i * n:(i + 1) * n]) for i in range(6)]
    straight = TorchTrainer(spec, dtype=np.float64, mode=mode)
    first = TorchTrainer(spec, dtype=np.float64, mode=mode)
    for step, (xb, yb) in enumerate(batches):
        straight.train_batch(xb, yb, step, 1e-2)
        if step < 3:
            first.train_batch(xb, yb, step, 1e-2)
    state = first.state()
    assert state["optimizer/iterations"] == 3
    assert all(isinstance(v, np.ndarray) for v in state.values())
    resumed = TorchTrainer(spec, first.get_weights(), dtype=np.float64, mode=mode)  # resume passes the run's seed
    resumed.load_state(state)
    for step, (xb, yb) in enumerate(batches[3:], 3):
        resumed.train_batch(xb, yb, step, 1e-2)
    want, got = straight.get_weights(), resumed.get_weights()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    TorchTrainer(spec, dtype=np.float64, mode=mode).load_state({})  # a checkpoint without trainer state


# ---- divergence, dtypes, errors --------------------------------------------------------------------------
DIVERGING = """model bad {
    Input([4])
    Rescaling(1e30)
    BatchNormalization()
    Dense(3, activation=softmax)
}
train { loss = sparse_categorical_crossentropy optimizer = adam batch_size = 4 }
"""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_loss_raises_before_the_update_naming_the_layer(dtype):
    spec = compile_spec(DIVERGING)
    # times 1e30: infinite in either dtype. In float32 the inputs are within the divergence limit (1e30)
    # and Rescaling is blamed; float64 overflows only from inputs beyond it, so the Input layer is blamed
    huge, blamed = (1e10, "rescaling") if dtype == np.float32 else (1e300, "input_layer")
    x = (np.random.default_rng(0).normal(size=(4, 4)) * huge).astype(dtype)
    y = np.array([0, 1, 2, 0])
    numpy_side, torch_side = pair(spec, dtype=dtype)
    before = torch_side.get_weights()
    with pytest.raises(Diverged) as got:
        torch_side.train_batch(x, y, 0, 1e-3)
    with pytest.raises(Diverged) as want:
        numpy_side.train_batch(x, y, 0, 1e-3)
    assert got.value.layer == want.value.layer == blamed
    assert f"'{blamed}'" in str(got.value) and str(got.value) == str(want.value)
    after = torch_side.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before), "weights or moving statistics moved"
    assert torch_side.optimizer.iterations == 0
    # a later good step is the first update (its rescaled batch's variance, 1e30, fits float32)
    loss, _ = torch_side.train_batch(x / huge * 1e-15, y, 1, 1e-3)
    assert np.isfinite(loss) and torch_side.optimizer.iterations == 1
    assert not np.array_equal(before["batch_normalization/moving_mean"],
                              torch_side.get_weights()["batch_normalization/moving_mean"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["canonical", "native"])
def test_dtype_is_kept(dtype, mode):
    spec = compile_spec(CASES["cnn-flatten-sparse-adam"])
    x, y = case_data(spec, 8)  # float64 data, whatever the trainer's dtype
    trainer = TorchTrainer(spec, dtype=dtype, mode=mode)
    loss, out = trainer.train_batch(x, y, 0, 1e-3)
    assert isinstance(loss, float) and out.dtype == dtype and out.shape == (8, 3)
    assert trainer.evaluate_batch(x, y)[1].dtype == dtype
    assert all(v.dtype == dtype for v in trainer.get_weights().values())
    expected = torch.float32 if dtype == np.float32 else torch.float64
    assert all(t.dtype == expected for t in [*trainer.model.parameters(), *trainer.model.buffers()])
    assert {k: v.shape for k, v in trainer.get_weights().items()} == \
        {k: v.shape for k, v in initial_weights(spec, 0).items()}


def test_outputs_are_probabilities_when_fused_and_logits_when_asked():
    spec = compile_spec(CASES["cnn-flatten-sparse-adam"])
    x, y = case_data(spec, 8)
    trainer = TorchTrainer(spec, dtype=np.float64)
    assert trainer.model.fused and not trainer.outputs_are_logits
    np.testing.assert_allclose(trainer.train_batch(x, y, 0, 1e-3)[1].sum(axis=1), 1.0)
    logits = TorchTrainer(compile_spec(CASES["cnn-gap-categorical-logits-sgd"]), dtype=np.float64)
    assert not logits.model.fused and logits.outputs_are_logits


def test_bad_arguments():
    spec = compile_spec(CASES["mlp-mse-adamw"])
    with pytest.raises(ValueError, match="mode"):
        TorchTrainer(spec, mode="fast")
    with pytest.raises(ValueError, match="unknown precision .*float16.*: one of float32, float64, mixed_bfloat16"):
        TorchTrainer(spec, dtype=np.float16)  # plain float16 is not a policy: mixed_float16 is
    trainer = TorchTrainer(spec)
    with pytest.raises(ValueError, match="shape"):
        trainer.set_weights({"dense/kernel": np.zeros((7, 6))})
    with pytest.raises(KeyError, match="no weight"):
        trainer.set_weights({"nope/kernel": np.zeros(3)})
