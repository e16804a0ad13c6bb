"""The generated per-pixel set ``shape_masks(...)`` and Keras' per-pixel loss and metrics.

- The images are ``shapes``' own (the same draws) and each mask labels exactly the pixels of the documented
  shape (class k + 1) and the background (0); deterministic, within the data budget, linted against the model.
- A per-pixel output (N, H, W, C): Keras' cross-entropies reduce the last axis only and ``sum_over_batch_size``
  divides by N·H·W, so the loss is the mean over the batch and the pixels; its metrics take each sample's mean
  over its pixels, then the mean over samples. NumPy (by hand, with gradients), torch (autograd) and the
  semantics' formula (the emitted programs' loss) against ``keras.losses`` / ``keras.metrics``.
- A small U-Net trains on it through the CLI (NumPy and torch) and the pixel accuracy beats the background's
  share.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from compiler.ir.training import Loss, ShapeMasksData, ShapesData
from compiler.pipeline import compile_text
from compiler.semantics import losses as semantics
from compiler.semantics.metrics import metric_terms
from frameworks import need
from runtime.data import DataError, generate, generated_bytes, load_dataset
from runtime.shape_images import SHAPE_NAMES, draw_shapes
from test_shapes_data import DOCUMENTED

runner = CliRunner()


# ---- the data ------------------------------------------------------------------------------------------------
def documented_masks(n, size, classes, seed):
    """The masks as runtime/shape_images.py documents them: draw_shapes' draws for classes − 1 shape classes,
    0 off the shape, k + 1 on a shape of class k."""
    k_all = classes - 1
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k_all), [n // k_all + (k < n % k_all) for k in range(k_all)])
    centre = rng.uniform(-0.05, 0.05, size=(n, 2)).astype(np.float32)
    half = rng.uniform(0.2, 0.32, size=n).astype(np.float32)
    rng.random((n, 3))  # colours: not needed for the masks, but drawn
    rng.integers(96, 161, size=(n, 3))
    order = rng.permutation(n)
    t = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    masks = np.empty((n, size, size), dtype=np.int64)
    for j in range(n):
        p = (t[None, :] - centre[j, 0]) / half[j]
        q = (t[:, None] - centre[j, 1]) / half[j]
        masks[j] = np.where(DOCUMENTED[SHAPE_NAMES[y[j] % 10]](p, q), y[j] + 1, 0)
    return masks[order]


@pytest.mark.parametrize("classes", [2, 4, 11, 13])
def test_masks_are_the_documented_shapes_and_the_images_are_shapes_own(classes):
    x, masks = generate(ShapeMasksData(n_samples=40, size=20, channels=3, classes=classes, noise=0.0), 4)
    assert x.shape == (40, 20, 20, 3) and x.dtype == np.uint8
    assert masks.shape == (40, 20, 20) and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks, documented_masks(40, 20, classes, 4))
    # the images and their order are shapes' own (draw_shapes without masks: shapes(classes=classes − 1))
    x_shapes, y_shapes = draw_shapes(np.random.default_rng(4), 40, 20, 3, classes - 1, 0.0)
    np.testing.assert_array_equal(x, x_shapes)
    if classes > 2:
        np.testing.assert_array_equal(
            x, generate(ShapesData(n_samples=40, size=20, channels=3, classes=classes - 1, noise=0.0), 4)[0])
    for j in range(40):  # each mask holds the background and its image's class + 1, nothing else
        assert set(np.unique(masks[j])) <= {0, int(y_shapes[j]) + 1}
        assert (masks[j] > 0).any() and (masks[j] == 0).any()
        # without noise, the shape's pixels have one colour and the background another
        on, off = x[j][masks[j] > 0], x[j][masks[j] == 0]
        assert (on == on[0]).all() and (off == off[0]).all() and (on[0] != off[0]).all()


def test_masks_are_deterministic_and_noise_leaves_them_alone():
    a = generate(ShapeMasksData(n_samples=30, size=16), 9)
    b = generate(ShapeMasksData(n_samples=30, size=16), 9)
    c = generate(ShapeMasksData(n_samples=30, size=16, noise=0.0), 9)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[1], c[1])
    assert (a[0] != c[0]).any()
    assert not np.array_equal(a[1], generate(ShapeMasksData(n_samples=30, size=16), 10)[1])


def test_the_budget_counts_the_one_hot_masks():
    data = ShapeMasksData(n_samples=1000, size=32, classes=4)
    assert generated_bytes(data) == 1000 * (6 * 32 * 32 * 3 + 32 * 32 * (2 + 8 + 4 * 4))
    assert generated_bytes(data) > generated_bytes(ShapesData(n_samples=1000, size=32))


UNET_TINY = """model seg {{
    Input([{size}, {size}, 3])
    Rescaling(1 / 255)
    skip = Conv2D(8, 3, padding=same, activation=relu)
    MaxPooling2D(2)
    Conv2D(8, 3, padding=same, activation=relu)
    up = UpSampling2D(2)
    Concatenate()(up, skip)
    Conv2D({units}, 1, activation=softmax)
}}
train {{
    loss = {loss}
    optimizer = adam(learning_rate={lr})
    batch_size = 16
    epochs = {epochs}
    seed = 1
    metrics = [accuracy]
    validation_split = 0.2
    data = shape_masks(n_samples={n}, size={size}, classes={classes})
}}
"""


def tiny(**kw):
    values = dict(size=16, units=3, loss="categorical_crossentropy", lr=0.01, epochs=1, n=40, classes=3)
    values.update(kw)
    return UNET_TINY.format(**values)


@pytest.mark.parametrize("loss, shape", [("categorical_crossentropy", (32, 16, 16, 3)),
                                         ("sparse_categorical_crossentropy", (32, 16, 16))])
def test_the_targets_are_a_label_per_pixel_in_the_loss_form(loss, shape):
    result = compile_text(tiny(loss=loss))
    assert not result.warnings, [w.message for w in result.warnings]
    data = load_dataset(result.spec)
    assert data.x_train.shape == (32, 16, 16, 3) and data.y_train.shape == shape and data.classes == 3
    _, masks = generate(ShapeMasksData(n_samples=40, size=16, classes=3), 1)
    labels = data.y_train.argmax(axis=-1) if loss.startswith("categorical") else data.y_train
    assert np.isin(labels, [0, 1, 2]).all()
    assert sorted(np.bincount(labels.ravel(), minlength=3)[1:]) > [0, 0]
    # the split keeps every image with its own mask
    order = np.random.default_rng(1).permutation(40)[:32]
    np.testing.assert_array_equal(labels, masks[order])


def test_a_model_that_is_not_per_pixel_or_has_other_classes_is_linted():
    flat = compile_text(tiny().replace("Conv2D(3, 1, activation=softmax)",
                                       "Flatten()\n    Dense(3, activation=softmax)"))
    assert [w.code for w in flat.warnings] == ["data-shape"]
    assert "labels every pixel of its 16×16 images" in flat.warnings[0].message
    assert "[16, 16, 3]" in flat.warnings[0].hint
    wrong = compile_text(tiny(units=5))
    assert [w.code for w in wrong.warnings] == ["data-classes"]
    assert "has 3 classes but the model outputs 5" in wrong.warnings[0].message


def test_a_flat_model_is_refused_when_loading_with_the_counts():
    spec = compile_text(tiny().replace("Conv2D(3, 1, activation=softmax)",
                                       "Flatten()\n    Dense(3, activation=softmax)")).spec
    with pytest.raises(DataError, match="256 values per sample"):
        load_dataset(spec)


def test_the_data_set_is_bound_with_its_arguments_and_errors():
    spec = compile_text(tiny(classes=3)).spec
    assert spec.training.data == ShapeMasksData(n_samples=40, size=16, classes=3)
    from spec_lang.diagnostics import SpecError
    with pytest.raises(SpecError, match="shape_masks"):
        compile_text(tiny().replace("classes=3)", "classes=3, colours=2)"))


# ---- Keras' per-pixel loss and metrics -----------------------------------------------------------------------
def per_pixel_case(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, 4, 5, 6)) * 2
    labels = rng.integers(0, 6, (3, 4, 5))
    labels[0, 0, 0] = 5
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    p[1, 1, 1] = np.eye(6)[2]  # clipped probabilities: the gradient stops at the bounds
    return z, p, labels, np.eye(6)[labels]


@pytest.mark.parametrize("kind", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("logits", [True, False])
def test_per_pixel_cross_entropy_is_keras_mean_over_batch_and_pixels(kind, logits):
    keras = need("keras")
    torch = need("torch")
    tf = need("tensorflow")
    from backends.numpy.losses import LOSSES as NUMPY
    from backends.torch.losses import LOSSES as TORCH

    z, p, labels, onehot = per_pixel_case()
    out = z if logits else p
    y = onehot if kind.startswith("categorical") else labels
    loss = (keras.losses.CategoricalCrossentropy if kind.startswith("categorical")
            else keras.losses.SparseCategoricalCrossentropy)(from_logits=logits, dtype="float64")
    tensor = tf.Variable(out)
    with tf.GradientTape() as tape:
        expected = loss(tf.constant(y), tensor)
    expected_grad = tape.gradient(expected, tensor).numpy()
    expected = float(expected)
    # Keras' value is the mean over 3·4·5 positions, not over the 3 samples
    clipped = np.clip(p / p.sum(-1, keepdims=True) if kind.startswith("categorical") else p, 1e-7, 1 - 1e-7)
    if logits:
        log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    else:  # the sparse loss feeds log(clip(p)) to the logits formula: clip(p) renormalised
        log_p = np.log(clipped) - (0 if kind.startswith("categorical") else np.log(clipped.sum(-1, keepdims=True)))
    per_position = -np.take_along_axis(log_p, labels[..., None], axis=-1).mean()
    assert expected == pytest.approx(per_position, rel=1e-9)

    value, grad = NUMPY[kind](out, y, logits)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-15)

    t = torch.tensor(out, requires_grad=True)
    torch_value = TORCH[kind](t, torch.tensor(y), logits)
    torch_value.backward()
    assert float(torch_value.detach()) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), expected_grad, rtol=1e-9, atol=1e-15)

    assert float(semantics.loss_value(np, kind, out, y, logits)) == pytest.approx(expected, rel=1e-12)
    t = torch.tensor(out, requires_grad=True)
    semantics.loss_value(torch, kind, t, torch.tensor(y), logits).backward()
    np.testing.assert_allclose(t.grad.numpy(), expected_grad, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("name, kind", [("accuracy", "categorical_crossentropy"),
                                        ("accuracy", "sparse_categorical_crossentropy"),
                                        ("accuracy", "binary_crossentropy"), ("mse", "mse"), ("mae", "mae")])
def test_per_pixel_metrics_are_keras_mean_of_per_sample_means(name, kind):
    keras = need("keras")
    torch = need("torch")
    z, p, labels, onehot = per_pixel_case(1)
    if kind == "binary_crossentropy":
        p, y = 1 / (1 + np.exp(-z)), (labels % 2)[..., None].repeat(6, axis=-1).astype(float)
        metric = keras.metrics.BinaryAccuracy()
    elif kind == "sparse_categorical_crossentropy":
        y, metric = labels, keras.metrics.SparseCategoricalAccuracy()
    elif kind == "categorical_crossentropy":
        y, metric = onehot, keras.metrics.CategoricalAccuracy()
    else:
        y = onehot
        metric = keras.metrics.MeanSquaredError() if name == "mse" else keras.metrics.MeanAbsoluteError()
    metric.update_state(y, p)
    expected = float(metric.result())
    loss = Loss(kind=kind)
    assert float(metric_terms(name, loss, p, y, False)) / 3 == pytest.approx(expected, rel=1e-6)
    assert float(metric_terms(name, loss, torch.tensor(p), torch.tensor(y), False)) / 3 == pytest.approx(
        expected, rel=1e-6)


def test_per_sample_means_weigh_samples_equally_as_keras():
    """Two batches of different sizes: the running sums over samples give Keras' running mean."""
    keras = need("keras")
    z, p, labels, _ = per_pixel_case(2)
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(labels[:1], p[:1])
    metric.update_state(labels[1:], p[1:])
    loss = Loss(kind="sparse_categorical_crossentropy")
    total = float(metric_terms("accuracy", loss, p[:1], labels[:1], False)) + float(
        metric_terms("accuracy", loss, p[1:], labels[1:], False))
    assert total / 3 == pytest.approx(float(metric.result()), rel=1e-6)


# ---- training ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_small_unet_learns_the_masks_through_the_cli(backend, tmp_path, monkeypatch):
    """The pixel accuracy after 10 epochs beats the share of the most frequent label (the background)."""
    if backend == "torch":
        need("torch")
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "seg.nns"
    spec.write_text(tiny(n=200, epochs=10, lr=0.01, classes=2, units=2), encoding="utf-8")
    result = runner.invoke(app, ["train", str(spec), "--backend", backend, "--out", "run"])
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    _, masks = generate(ShapeMasksData(n_samples=200, size=16, classes=2), 1)
    background = float((masks == 0).mean())
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] > background + 0.08, (history[-1], background)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_the_three_backends_agree_step_for_step_on_a_per_pixel_loss(loss):
    """Canonical float64, 10 steps of a small U-Net on shape masks: torch and Keras (whose loss is Keras' own
    CategoricalCrossentropy/SparseCategoricalCrossentropy) within 1e-9 of NumPy; the first loss is a mean over
    pixels (near ln 3 for 3 labels), not a sum over a sample's 256 pixels."""
    need("torch")
    need("keras")
    from tools.equiv import compare, run_canonical

    spec = compile_text(tiny(loss=loss)).spec
    data = load_dataset(spec, dtype=np.float64)
    x, y = data.x_train[:16], data.y_train[:16]
    reference = run_canonical("numpy", spec, x, y, steps=10, dtype="float64")
    assert 0.5 < reference.losses[0] < 2.0, reference.losses[0]
    for backend in ("torch", "keras"):
        result = compare(run_canonical(backend, spec, x, y, steps=10, dtype="float64"), reference, 1e-9)
        assert result.step is None and result.layer is None, (backend, result)
        assert result.loss_error < 1e-9 and max(result.weight_errors.values()) < 1e-9, (backend, result)
