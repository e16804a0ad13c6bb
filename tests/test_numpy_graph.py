"""The NumPy graph executor (backends/numpy/model.py): forward over a DAG, backward accumulating the gradient
of a value used in several places, one loss per output; the merge layers' tie rule.

Finite differences in float64 through a residual block with a projection shortcut, a branch-and-concatenate,
a value used four times, two outputs, and two fused softmax outputs of which one also feeds the other.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from backends.numpy.model import NumpyModel
from compiler.ir.layers import LAYER_CLASSES
from compiler.semantics.initializers import initial_weights
from compiler.weights import weight_specs
from graph_cases import GRAPHS, graph_data, three_uses, two_outputs
from test_gradients import TOLERANCE, numeric_grad, rel_error


def _model(spec, seed=1, scale=0.7):
    rng = np.random.default_rng(seed)
    params = {w.name: rng.normal(size=w.shape) * scale for w in weight_specs(spec)}
    for name in params:
        if name.endswith("variance"):
            params[name] = np.abs(params[name]) + 0.5
    return NumpyModel(spec, params), params


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_graph_gradients_match_finite_differences(case):
    spec = GRAPHS[case]()
    model, params = _model(spec)
    x, y = graph_data(spec, n=6)
    ctx = Context(training=True, seed=9, step=2)
    saved = {k: v.copy() for k, v in params.items() if "moving" in k}

    def loss():
        value = model.loss_and_grads(x, y, ctx)[0]
        for k, v in saved.items():  # a training pass moves BatchNormalization's statistics
            params[k][...] = v
        return value

    _, grads, _ = model.loss_and_grads(x, y, ctx)
    for k, v in saved.items():
        params[k][...] = v
    assert set(grads) == set(model.trainable)
    rng = np.random.default_rng(2)
    for name in model.trainable:
        numeric, idx = numeric_grad(loss, params[name], rng)
        analytic = np.array([grads[name][i] for i in idx])
        # against the layer's largest gradient: a bias before BatchNormalization has a gradient of round-off
        layer = name.split("/")[0]
        scale = max(float(np.abs(g).max()) for k, g in grads.items() if k.split("/")[0] == layer)
        assert rel_error(numeric, analytic) < TOLERANCE or np.abs(numeric - analytic).max() < TOLERANCE * scale, name


def test_a_value_used_four_times_computes_what_the_wiring_says():
    spec = three_uses()
    model, p = _model(spec)
    x, _ = graph_data(spec, n=5)
    d = np.tanh(x @ p["dense/kernel"] + p["dense/bias"])
    d1 = 1 / (1 + np.exp(-(d @ p["dense_1/kernel"] + p["dense_1/bias"])))
    d2 = d @ p["dense_2/kernel"] + p["dense_2/bias"]
    expected = (d1 * d * d2 + d) @ p["dense_3/kernel"] + p["dense_3/bias"]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12)


def test_the_gradient_of_a_shared_value_is_the_sum_over_its_uses():
    """d loss / d (dense's output), read at dense's backprop, is the sum of what its four consumers send."""
    spec = three_uses()
    model, p = _model(spec)
    x, y = graph_data(spec, n=5)
    fp = model.forward(x, Context(training=True))
    _, dlosses = model.data_loss(fp, y)
    seen = {}
    dense_step = model.steps.index(next(s for s in model.steps if s.layer == "dense" and s.activation))
    original = fp.backprops[dense_step]
    fp.backprops[dense_step] = lambda dy: (seen.setdefault("dy", dy), original(dy))[1]
    model.backward(fp, dlosses)
    # by hand: out = (d1·d·d2 + d) W3 + b3, mse over 2 outputs
    d = fp.outputs[0]
    dout = dlosses[0]
    dadd = dout @ p["dense_3/kernel"].T
    h = np.tanh(x @ p["dense/kernel"] + p["dense/bias"])
    d1 = 1 / (1 + np.exp(-(h @ p["dense_1/kernel"] + p["dense_1/bias"])))
    d2 = h @ p["dense_2/kernel"] + p["dense_2/bias"]
    via_d1 = (dadd * h * d2 * d1 * (1 - d1)) @ p["dense_1/kernel"].T
    via_d2 = (dadd * d1 * h) @ p["dense_2/kernel"].T
    expected = via_d1 + dadd * d1 * d2 + via_d2 + dadd
    assert d.shape == (5, 2)
    np.testing.assert_allclose(seen["dy"], expected, rtol=1e-10)


def test_two_outputs_give_two_arrays_and_the_loss_sums_their_losses():
    spec = two_outputs()
    model, _ = _model(spec)
    x, y = graph_data(spec, n=7)
    ys = [y["probs"], y["value"]]
    probs, value = model.predict(x)
    assert probs.shape == (7, 3) and value.shape == (7, 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    fp = model.forward(x, Context(training=False))
    total, _ = model.data_loss(fp, ys)
    expected = np.mean((probs - ys[0]) ** 2) + np.mean((value - ys[1]) ** 2)
    assert total == pytest.approx(expected, rel=1e-12)
    assert fp.losses == pytest.approx([np.mean((probs - ys[0]) ** 2), np.mean((value - ys[1]) ** 2)], rel=1e-12)
    in_order, _ = model.data_loss(fp, ys)
    assert in_order == total


def test_the_values_of_a_graph_are_released_after_their_last_consumer():
    spec = GRAPHS["residual"]()
    model, _ = _model(spec)
    released = {s for r in model.release for s in r}
    names = [model.steps[s].layer for s in released]
    assert "conv2d" in names and "add" in names  # the block's input, once the Add has taken it
    last = len(model.steps) - 1
    assert last not in released  # the output stays


def test_a_graph_trains_and_evaluates_through_the_trainer():
    from backends.numpy.trainer import NumpyTrainer

    spec = GRAPHS["residual"]()
    trainer = NumpyTrainer(spec, initial_weights(spec, 3, np.float64), dtype=np.float64)
    x, y = graph_data(spec, n=8)
    first, out = trainer.train_batch(x, y, 0, 0.01)
    assert out.shape == (8, 3) and np.isfinite(first)
    outputs, grads = trainer.probe(x, y)
    assert set(outputs) == {layer.name for layer in spec.layers}
    assert outputs["add_1"].shape == (8, 3, 2, 4)
    assert set(grads) == set(trainer.model.trainable)
    loss, _ = trainer.evaluate_batch(x, y)
    assert np.isfinite(loss)


# ---- merges: the tie rule of Maximum and Minimum ---------------------------------------------------------
def _merge(kind, **args):
    return LAYER_CLASSES[kind](name=kind.lower(), span={"path": "<test>", "line": 1, "column": 1, "end_line": 1, "end_column": 2},
                               **args)


@pytest.mark.parametrize("kind", ["Maximum", "Minimum"])
def test_a_tie_sends_the_gradient_to_the_left_operand_of_each_fold(kind):
    """TensorFlow's MaximumGrad (x ≥ y) / MinimumGrad (x ≤ y): on a tie the whole gradient goes left."""
    a = np.array([[1.0, 2.0, 3.0, 5.0]])
    b = np.array([[1.0, 0.0, 3.0, 5.0]])
    c = np.array([[1.0, 2.0, 4.0, 5.0 if kind == "Maximum" else 4.0]])
    y, backprop = numpy_layers.LAYERS[kind](_merge(kind), {}, {}, [a, b, c], Context(training=True))
    dy = np.array([[10.0, 20.0, 30.0, 40.0]])
    da, db, dc = backprop(dy)[0]
    if kind == "Maximum":
        np.testing.assert_array_equal(y, [[1, 2, 4, 5]])
        np.testing.assert_array_equal(da, [[10, 20, 0, 40]])  # ties in columns 0, 1 (a vs c), 3
        np.testing.assert_array_equal(dc, [[0, 0, 30, 0]])
    else:
        np.testing.assert_array_equal(y, [[1, 0, 3, 4]])
        np.testing.assert_array_equal(da, [[10, 0, 30, 0]])
        np.testing.assert_array_equal(db, [[0, 20, 0, 0]])
        np.testing.assert_array_equal(dc, [[0, 0, 0, 40]])
    np.testing.assert_array_equal(da + db + dc, dy)  # nothing split, nothing lost


def test_broadcast_inputs_get_the_gradient_summed_over_their_broadcast_axes():
    x1 = np.arange(6.0).reshape(2, 3, 1)
    x2 = np.ones((2, 1, 4))
    y, backprop = numpy_layers.LAYERS["Add"](_merge("Add"), {}, {}, [x1, x2], Context(training=True))
    assert y.shape == (2, 3, 4)
    d1, d2 = backprop(np.ones(y.shape))[0]
    np.testing.assert_array_equal(d1, np.full((2, 3, 1), 4.0))
    np.testing.assert_array_equal(d2, np.full((2, 1, 4), 3.0))


# ---- diagnose, per node ---------------------------------------------------------------------------------
def test_diagnose_gives_every_node_its_ratio_to_what_it_takes():
    from backends.numpy.trainer import NumpyTrainer
    from tools.diagnose import diagnose

    spec = GRAPHS["residual"]()
    trainer = NumpyTrainer(spec, initial_weights(spec, 3, np.float64), dtype=np.float64)
    x, y = graph_data(spec, n=32)
    d = diagnose(trainer, spec, x, y, batches=1)
    assert [s.name for s in d.layers] == [layer.name for layer in spec.layers]
    from tools.equiv import step_batches

    idx = step_batches(len(x), spec.training.batch_size, spec.training.seed, 1)[0]  # diagnose's one batch
    outputs, _ = trainer.probe(x[idx], y[idx])
    by_name = {s.name: s for s in d.layers}
    add = next(layer for layer in spec.layers if layer.kind == "Add")
    pooled = np.concatenate([outputs[name].reshape(-1) for name in add.inputs])
    assert by_name[add.name].variance_ratio == pytest.approx(outputs[add.name].var() / pooled.var(), rel=1e-9)


def test_diagnose_judges_each_input_of_a_model_with_several():
    from backends.numpy.trainer import NumpyTrainer
    from tools.diagnose import diagnose

    spec = GRAPHS["two-inputs"]()
    trainer = NumpyTrainer(spec, initial_weights(spec, 3, np.float64), dtype=np.float64)
    x, y = graph_data(spec, n=32)
    x = type(x)({"image": x["image"], "meta": x["meta"] * 1000.0})
    d = diagnose(trainer, spec, x, y, batches=1)
    assert {s.name for s in d.layers} == {layer.name for layer in spec.layers}
    assert [f for f in d.flags if f.startswith("unscaled inputs")] == [
        next(f for f in d.flags if "input 'meta'" in f)]


@pytest.mark.parametrize("case", ["residual", "two-outputs"])
def test_lr_find_runs_on_a_graph_and_follows_the_total_loss(case):
    from backends.numpy.trainer import NumpyTrainer
    from tools.lr_find import range_test

    spec = GRAPHS[case]()
    x, y = graph_data(spec, n=32)
    trainer = NumpyTrainer(spec, initial_weights(spec, 3, np.float64), dtype=np.float64)
    result = range_test(trainer, spec, x, y, steps=12, min_lr=1e-4, max_lr=1e-1)
    assert len(result.losses) == len(result.rates) > 0
    assert all(isinstance(loss, float) for loss in result.losses)
