"""The Keras backend on graphs: the functional model is wired as the IR says, and in canonical float64 it
trains step for step as the NumPy reference does (1e-9) on every graph of tests/graph_cases.py and on a
two-input/two-output model with a loss per output, loss_weights and a residual; probes per node, several
outputs, x and y given by key or in order; Keras' Maximum/Minimum give a tie's gradient to the left operand
(the pinned rule). The graph rows of the generated matrix (tests/equivalence_cases.py) run in
tests/test_keras_backend.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from frameworks import need

keras = need("keras")
tf = need("tensorflow")

from graph_cases import GRAPHS, graph_data  # tests/ is on sys.path under pytest

from backends.keras.layers import LOWERINGS, LowerContext
from backends.keras.model import Probabilities
from backends.keras.trainer import KerasTrainer
from backends.numpy.model import NumpyModel
from backends.numpy.trainer import NumpyTrainer
from compiler.ir.graph import Graph
from compiler.pipeline import compile_text
from compiler.semantics.initializers import initial_weights
from runtime.trainers import make_trainer
from tools.diagnose import diagnose
from tools.equiv import compare, relative_error, run_canonical
from tools.lr_find import range_test

TOLERANCE = 1e-9
STEPS = 12

# Two inputs, two outputs with their own losses and weights, a residual (no bias before its BatchNormalization,
# so every weight has a gradient worth comparing) and a fused softmax output.
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
train {
    loss = {label: sparse_categorical_crossentropy, value: mse}
    loss_weights = {value: 0.5}
    optimizer = adam(learning_rate=0.01)
    batch_size = 8
    seed = 11
}"""

SPECS = {**GRAPHS, "two-by-two": lambda: compile_text(TWO_BY_TWO).spec}


def spec_named(name: str):
    return SPECS[name]()


# ---- the functional model is the IR's graph --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_keras_model_is_wired_as_the_ir(name):
    spec = spec_named(name)
    trainer = KerasTrainer(spec, dtype=np.float64)
    net, model = trainer.net, trainer.model
    graph = Graph.of(spec.layers, spec.output_names)
    for i, layer in enumerate(spec.layers):
        if layer.is_input:
            continue
        first = net.keras_layers[layer.name][0]
        node = first._inbound_nodes[0]
        producers = []
        for t in node.input_tensors:
            op = t._keras_history[0]
            if isinstance(op, Probabilities):  # a fused output's probabilities, taken off its logit path
                op = op._inbound_nodes[0].input_tensors[0]._keras_history[0]
            producers.append(op.name)
        assert producers == [net.keras_layers[spec.layers[s].name][-1].name for s in graph.sources[i]], layer.name
    assert [t._keras_history[0].name for t in model.inputs] == [layer.name for layer in spec.input_layers]
    assert [tuple(t.shape[1:]) for t in model.outputs] == [tuple(layer.output_shape) for layer in spec.output_layers]
    assert model.count_params() == spec.trainable_params + spec.non_trainable_params


# ---- canonical float64 against the NumPy reference ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPECS))
def test_graph_trains_as_numpy_in_float64(name):
    spec = spec_named(name)
    x, y = graph_data(spec, 40)
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    trace = run_canonical("keras", spec, x, y, steps=STEPS, dtype="float64")
    d = compare(trace, reference, TOLERANCE)
    assert d.step is None and d.layer is None, (d.step, d.layer, d.loss_error)
    assert len(trace.output_losses) == (STEPS if len(spec.output_names) > 1 else 0)
    assert relative_error(trace.first_outputs, reference.first_outputs) < TOLERANCE


@pytest.mark.parametrize("name", ["two-by-two", "fused-shared", "residual"])
def test_evaluation_prediction_and_probes_match_numpy(name):
    """Every node's output (probabilities along a fused output's path) and every gradient of a probe; the
    outputs of predict and evaluate_batch, one per model output."""
    spec = spec_named(name)
    x, y = graph_data(spec, 16)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    ours = KerasTrainer(spec, {k: v.copy() for k, v in weights.items()}, dtype=np.float64)
    ref = NumpyTrainer(spec, {k: v.copy() for k, v in weights.items()}, dtype=np.float64)
    outs, grads = ours.probe(x[:8], y[:8])
    ref_outs, ref_grads = ref.probe(x[:8], y[:8])
    assert list(outs) == list(ref_outs) and set(grads) == set(ref_grads)
    for key in ref_outs:
        assert relative_error(outs[key], ref_outs[key]) < 1e-12, key
    scale = max(float(np.abs(g).max()) for g in ref_grads.values())
    for key in ref_grads:  # against the largest gradient: a bias before a BatchNormalization has only round-off
        assert relative_error(grads[key], ref_grads[key], scale) < 1e-12, key
    several = len(spec.output_names) > 1
    (losses, out), (ref_losses, ref_out) = ours.evaluate_batch(x, y), ref.evaluate_batch(x, y)
    predicted, expected = ours.predict(x), NumpyModel(spec, ref.params).predict(x)
    if not several:  # one loss, one output array
        losses, ref_losses, out, ref_out, predicted, expected = ((v,) for v in (
            losses, ref_losses, out, ref_out, predicted, expected))
    assert len(losses) == len(ref_losses) == (1 + len(spec.output_names) if several else 1)
    assert relative_error(losses, ref_losses) < 1e-12
    assert len(out) == len(predicted) == len(expected) == len(spec.output_names)
    for a, b in [*zip(out, ref_out), *zip(predicted, expected)]:
        assert relative_error(a, b) < 1e-12


def test_inputs_and_targets_by_key_or_in_order():
    """x by Input name (NamedArrays or dict) or in Input order; y by output key (or layer name) or in output
    order: the same step."""
    spec = spec_named("two-by-two")
    x, y = graph_data(spec, 8)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    forms = [(x, y), (dict(x.items()), dict(y.items())), ([x["image"], x["meta"]], [y["label"], y["value"]]),
             (x, {layer.name: y[key] for key, layer in zip(("label", "value"), spec.output_layers)})]
    results = []
    for xs, ys in forms:
        trainer = KerasTrainer(spec, {k: v.copy() for k, v in weights.items()}, dtype=np.float64)
        results.append(trainer.train_batch(xs, ys, 0, 0.01))
    for (loss, out) in results[1:]:
        assert loss == results[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(out, results[0][1]))
    with pytest.raises(ValueError, match="2 inputs"):
        KerasTrainer(spec, weights, dtype=np.float64).train_batch([x["image"]], y, 0, 0.01)


def test_native_mode_trains_several_outputs_with_the_weighted_sum():
    """Native mode compiles a loss per output with loss_weights: without dropout, the first step's total is the
    canonical one (the same initial weights), and each output's loss is reported."""
    spec = spec_named("two-by-two")
    x, y = graph_data(spec, 8)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    canonical = KerasTrainer(spec, {k: v.copy() for k, v in weights.items()}, dtype=np.float64)
    native = KerasTrainer(spec, dtype=np.float64, mode="native")
    native.set_weights({k: v.copy() for k, v in weights.items()})
    (total, label, value), _ = native.train_batch(x, y, 0, 0.01)
    (c_total, c_label, c_value), _ = canonical.train_batch(x, y, 0, 0.01)
    assert relative_error([total, label, value], [c_total, c_label, c_value]) < 1e-12
    assert relative_error(total, label + 0.5 * value) < 1e-12


@pytest.mark.parametrize("name", ["two-by-two", "residual", "fused-shared"])
def test_diagnose_per_node_and_lr_find_match_numpy(name):
    """diagnose's per-layer variances and gradient norms over the graph's nodes, and the learning-rate range test
    (which follows the total loss of several outputs), as on the NumPy reference."""
    spec = spec_named(name)
    x, y = graph_data(spec, 32)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    trainers = {b: lambda b=b: make_trainer(b, spec, weights={k: v.copy() for k, v in weights.items()},
                                            dtype=np.float64, mode="canonical") for b in ("numpy", "keras")}
    found = {b: diagnose(make(), spec, x, y, batches=2) for b, make in trainers.items()}
    assert [n.name for n in found["keras"].layers] == [n.name for n in found["numpy"].layers]
    assert len(found["numpy"].layers) == len(spec.layers)
    for a, b in zip(found["numpy"].layers, found["keras"].layers):
        assert b.variance == pytest.approx(a.variance, rel=1e-9), a.name
        if a.grad_norm is not None:
            assert b.grad_norm == pytest.approx(a.grad_norm, rel=1e-9), a.name
    assert found["numpy"].flags == found["keras"].flags
    tests = {b: range_test(make(), spec, x, y, steps=8, min_lr=1e-4, max_lr=1e-1) for b, make in trainers.items()}
    assert len(tests["keras"].losses) == len(tests["numpy"].losses) == 8
    assert relative_error(tests["keras"].losses, tests["numpy"].losses) < TOLERANCE


# ---- the merge layers' tie rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Maximum", "Minimum"])
def test_keras_merge_gives_a_tie_to_the_left_operand(kind):
    """Keras folds max(max(a, b), c) with tf.maximum, whose gradient takes x >= y (MinimumGrad: x <= y): on a
    tie the earlier input gets all of it, the pinned rule (torch.maximum would split it). A broadcast input's
    gradient is summed over its broadcast axes."""
    spec = compile_text(f"model m {{\n Input([3])\n a = Dense(3)\n b = Dense(1)(a)\n c = Dense(3)(a)\n {kind}()(a, b, c)\n}}").spec
    layer = next(layer for layer in spec.layers if layer.kind == kind)
    merge = LOWERINGS[kind](layer, LowerContext("float64", native=False, seed=0))
    a = tf.constant([[1.0, 2.0, 3.0]], dtype="float64")
    b = tf.constant([[2.0]], dtype="float64")  # broadcast over the three features
    c = tf.constant([[2.0, 2.0, 0.0]] if kind == "Maximum" else [[2.0, 2.0, 4.0]], dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch([a, b, c])
        y = merge([a, b, c])
    ga, gb, gc = (g.numpy() for g in tape.gradient(y, [a, b, c]))
    if kind == "Maximum":  # max(a, b) = [2, 2, 3] (a tie at 2 goes to a), then vs c = [2, 2, 0]: ties to the fold
        np.testing.assert_array_equal(y.numpy(), [[2.0, 2.0, 3.0]])
        np.testing.assert_array_equal(ga, [[0.0, 1.0, 1.0]])
        np.testing.assert_array_equal(gb, [[1.0]])
    else:  # min(a, b) = [1, 2, 2] (a tie at 2 goes to a), then vs c = [2, 2, 4]: ties to the fold
        np.testing.assert_array_equal(y.numpy(), [[1.0, 2.0, 2.0]])
        np.testing.assert_array_equal(ga, [[1.0, 1.0, 0.0]])
        np.testing.assert_array_equal(gb, [[1.0]])
    np.testing.assert_array_equal(gc, [[0.0, 0.0, 0.0]])


def test_a_fused_output_feeding_another_layer_gives_it_probabilities():
    """The loss reads the first softmax's logits (LogitsHead), but the Dense after it takes the probabilities."""
    spec = spec_named("fused-shared")
    trainer = KerasTrainer(spec, dtype=np.float64)
    assert all(head is not None for head in trainer.net.heads)
    probabilities = [layer for layer in trainer.model.layers if isinstance(layer, Probabilities)]
    assert len(probabilities) == 1
    dense_2 = trainer.net.keras_layers["dense_2"][0]
    assert dense_2._inbound_nodes[0].input_tensors[0]._keras_history[0] is probabilities[0]
