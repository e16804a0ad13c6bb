"""The PyTorch backend on graphs against the NumPy reference, float64 canonical mode: training traces through a
residual block, branches, a value used four times and several outputs; every output of ``TorchModel.run``; the
per-layer records of ``probe``; the merge modules (NCHW inside, Keras' axis for Concatenate, the tie rule)."""

from __future__ import annotations

import numpy as np
import pytest

from frameworks import need

torch = need("torch")

from backends.numpy import layers as numpy_layers  # noqa: E402
from backends.numpy.layers import Context  # noqa: E402
from backends.numpy.model import NumpyModel  # noqa: E402
from backends.numpy.trainer import NumpyTrainer  # noqa: E402
from backends.torch.layers import LOWERINGS, RunContext  # noqa: E402
from backends.torch.trainer import TorchTrainer  # noqa: E402
from compiler.ir.layers import LAYER_CLASSES, MergeLayer  # noqa: E402
from compiler.semantics.initializers import initial_weights  # noqa: E402
from graph_cases import GRAPHS, graph_data, two_outputs  # noqa: E402
from compiler.semantics.schedules import learning_rate  # noqa: E402
from tools.equiv import layer_scales, relative_error, step_batches, tolerance_for  # noqa: E402

STEPS = 12
TOL64 = tolerance_for(np.float64)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(trainer, spec, x, y, steps: int):
    """Per-step losses (a tuple (total, each output's) with several outputs) and the final weights."""
    t = spec.training
    losses = []
    for step, idx in enumerate(step_batches(len(x), t.batch_size, t.seed, steps)):
        loss, _ = trainer.train_batch(x[idx], y[idx], step, learning_rate(t.optimizer, t.schedule, step))
        losses.append(np.atleast_1d(np.asarray(loss, dtype=np.float64)))
    return np.array(losses), trainer.get_weights()


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_a_graph_trains_as_numpy_does_in_float64(case):
    spec = GRAPHS[case]()
    x, y = graph_data(spec, n=24)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    losses, final = _train(TorchTrainer(spec, weights, dtype=np.float64), spec, x, y, STEPS)
    ref_losses, ref_final = _train(NumpyTrainer(spec, weights, dtype=np.float64), spec, x, y, STEPS)
    assert losses.shape == ref_losses.shape == (STEPS, 1 if len(spec.output_names) == 1 else 3)
    assert relative_error(losses, ref_losses) < TOL64
    scales = layer_scales(ref_final)
    for name, w in ref_final.items():
        assert relative_error(final[name], w, scales[name.split("/")[0]]) < TOL64, name


def test_run_returns_every_output_in_keras_layout():
    spec = two_outputs()
    weights = initial_weights(spec, 3, np.float64)
    trainer = TorchTrainer(spec, weights, dtype=np.float64)
    x, _ = graph_data(spec, n=5)
    trainer.ctx.training = False
    with torch.no_grad():
        outputs, loss_inputs, penalty = trainer.model.run(trainer._input(x))
    expected = NumpyModel(spec, weights).predict(x)
    assert len(outputs) == len(loss_inputs) == 2 and penalty is None
    for got, want in zip(outputs, expected):
        assert relative_error(got.numpy(), want) < TOL64


def test_a_stack_keeps_the_stack_path():
    spec = GRAPHS["residual"]()
    assert not TorchTrainer(spec, dtype=np.float64).model.is_stack
    from compiler.pipeline import compile_text

    stack = compile_text("model m { Input([3]) Dense(2) } train { loss = mse optimizer = sgd }").spec
    assert TorchTrainer(stack, dtype=np.float64).model.is_stack


# ---- the merge modules against the NumPy merges, images NCHW inside --------------------------------------
MERGES = [("Add", {}, [(3, 1, 2), (3, 4, 2), (1, 4, 2)]), ("Subtract", {}, [(3, 4, 1), (1, 4, 2)]),
          ("Multiply", {}, [(3, 4, 2), (3, 1, 2), (3, 4, 2)]), ("Average", {}, [(1, 4, 2), (3, 4, 2)]),
          ("Maximum", {}, [(3, 4, 2), (3, 4, 1), (3, 4, 2)]), ("Minimum", {}, [(3, 4, 2), (1, 1, 2), (3, 4, 2)]),
          ("Concatenate", {}, [(3, 4, 2), (3, 4, 3)]), ("Concatenate", {"axis": 1}, [(2, 4, 2), (3, 4, 2)]),
          ("Concatenate", {"axis": -2}, [(3, 1, 2), (3, 4, 2)]), ("Concatenate", {"axis": 1}, [(3, 2), (1, 2)]),
          ("Concatenate", {}, [(5,), (2,), (1,)])]


@pytest.mark.parametrize("kind,args,shapes", MERGES, ids=[f"{k}-{a}-{len(s[0])}d" for k, a, s in MERGES])
def test_a_merge_module_computes_the_numpy_merge_and_its_gradients(kind, args, shapes):
    layer = LAYER_CLASSES[kind](name="m", span={"path": "<test>", "line": 1, "column": 1, "end_line": 1,
                                                "end_column": 2}, **args)
    layer = layer.model_copy(update={"output_shape": layer.infer_merge_shape(tuple(shapes))})
    assert isinstance(layer, MergeLayer)
    rng = np.random.default_rng(5)
    # integers: Maximum/Minimum meet ties
    xs = [rng.integers(-2, 3, size=(2, *s)).astype(np.float64) for s in shapes]
    y, backprop = numpy_layers.LAYERS[kind](layer, {}, {}, xs, Context(training=True))
    dy = rng.normal(size=y.shape)
    dxs, _ = backprop(dy)

    def inside(a):  # NHWC -> NCHW for an image, as the network holds it
        t = torch.tensor(a, requires_grad=True)
        return t, (t.permute(0, 3, 1, 2) if t.dim() == 4 else t)

    leaves, inner = zip(*(inside(x) for x in xs))
    out = LOWERINGS[kind](layer, RunContext())(list(inner))
    out = out.permute(0, 2, 3, 1) if out.dim() == 4 else out
    np.testing.assert_array_equal(out.detach().numpy(), y)
    out.backward(torch.tensor(dy))
    for leaf, dx in zip(leaves, dxs):
        np.testing.assert_allclose(leaf.grad.numpy(), dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_graph_resumes_from_its_weights_and_state_bit_for_bit(backend):
    """A checkpoint is weights by layer name and the optimizer's state: stopping after 2 steps and resuming in
    a fresh trainer gives the same weights as 4 steps straight."""
    make = {"numpy": NumpyTrainer, "torch": TorchTrainer}[backend]
    spec = GRAPHS["residual"]()
    x, y = graph_data(spec, n=32)
    weights = initial_weights(spec, 3, np.float64)
    t = spec.training
    batches = step_batches(len(x), t.batch_size, t.seed, 4)

    def steps(trainer, start, stop):
        for step in range(start, stop):
            idx = batches[step]
            trainer.train_batch(x[idx], y[idx], step, learning_rate(t.optimizer, t.schedule, step))

    straight = make(spec, weights, dtype=np.float64)
    steps(straight, 0, 4)
    first = make(spec, weights, dtype=np.float64)
    steps(first, 0, 2)
    saved = {k: np.array(v, copy=True) for k, v in first.get_weights().items()}
    state = {k: np.array(v, copy=True) for k, v in first.state().items()}
    resumed = make(spec, saved, dtype=np.float64)
    resumed.load_state(state)
    steps(resumed, 2, 4)
    expected = straight.get_weights()
    assert set(resumed.get_weights()) == set(expected)
    for name, w in resumed.get_weights().items():
        np.testing.assert_array_equal(w, expected[name], err_msg=name)
