"""Native initial weights follow Keras 3.15's distributions exactly: every initializer kind, drawn by every
backend in native mode (the framework's own random numbers) and by both emitted programs (the weights the
emitted PyTorch or Keras program initialises, before any training), on Dense kernels (fans = (in, out)) and
Conv2D kernels (fans = receptive field × channels), in float64.

The expected distributions are ``tests/test_initializers.py``'s ``expected``, written out by hand from
keras/src/initializers/random_initializers.py (the truncated normals' 0.87962566103423978 correction
included), never from nnspec's own tables; the fans from the kernel's shape by Keras' rule
(``weight_fans``). Random kinds: Kolmogorov–Smirnov against the exact CDF, p > 1e-3, and inside the
truncation bounds; orthogonal: QᵀQ (or QQᵀ) = gain²·I; zeros, ones and constants: exactly. The draws are
seeded by the spec's seed, so every test is deterministic (seeds chosen once). The kinds are read from the
IR's ``Initializer`` union: a new kind joins by itself and fails until every target draws it right.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy import stats

from backends import BACKENDS
from compiler.ir.spec import Spec
from compiler.semantics.initializers import initial_weights
from compiler.weights import weight_specs
from runtime.trainers import make_trainer
from tools.emit import TARGETS as EMIT_TARGETS
from test_backend_contract import INITIALIZER_KINDS, need_framework, spec_of
from test_emit import emitted_module
from test_initializers import expected, weight_fans

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

P_VALUE = 1e-3

# kind -> how the spec writes it: arguments away from the defaults, so that a wrong one shows
EXAMPLES = {
    "constant": "constant(-2.5)",
    "random_normal": "random_normal(mean=0.3, stddev=0.7)",
    "truncated_normal": "truncated_normal(mean=-0.2, stddev=1.5)",
    "random_uniform": "random_uniform(minval=-0.2, maxval=0.7)",
    "orthogonal": "orthogonal(gain=1.5)",
}
TARGETS = tuple(f"{backend}-native" for backend in BACKENDS) + tuple(f"emit-{t}" for t in EMIT_TARGETS)


def layer_name(layout: str, kind: str) -> str:
    return f"{layout}_{kind}"


def dense_spec() -> Spec:
    """One Dense layer per kind, 60,000 weights each; widths alternate so that fan_in ≠ fan_out."""
    widths = [200, 300] * len(INITIALIZER_KINDS)
    layers = "\n".join(f"    Dense({widths[i]}, kernel_initializer={EXAMPLES.get(k, k)}, "
                       f'name="{layer_name("dense", k)}")' for i, k in enumerate(INITIALIZER_KINDS))
    return spec_of(f"model dense_inits {{\n    Input([300])\n{layers}\n}}\n"
                   f"train {{ loss = mse optimizer = sgd seed = 11 }}")


def conv_spec() -> Spec:
    """One 3×3 Conv2D per kind (4,608 weights each, fans 144/288 alternating with 288/144)."""
    filters = [32, 16] * len(INITIALIZER_KINDS)
    layers = "\n".join(f"    Conv2D({filters[i]}, 3, padding=same, kernel_initializer={EXAMPLES.get(k, k)}, "
                       f'name="{layer_name("conv", k)}")' for i, k in enumerate(INITIALIZER_KINDS))
    return spec_of(f"model conv_inits {{\n    Input([6, 6, 16])\n{layers}\n    Flatten()\n}}\n"
                   f"train {{ loss = mse optimizer = sgd seed = 12 }}")


SPECS = {"dense": dense_spec, "conv": conv_spec}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """target -> layout -> the initial weights the target draws for that layout's spec (built once)."""
    cache: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def get(target: str, layout: str) -> dict[str, np.ndarray]:
        if layout not in cache.setdefault(target, {}):
            cache[target][layout] = draw(target, SPECS[layout](), tmp_path_factory.mktemp(target))
        return cache[target][layout]

    return get


def draw(target: str, spec: Spec, where) -> dict[str, np.ndarray]:
    """The initial weights ``target`` draws for ``spec``: a backend's trainer in native mode, or the emitted
    program's ``build_model``."""
    kind, which = target.split("-", 1)
    if kind != "emit":
        trainer = make_trainer(kind, spec, dtype=np.float64, mode="native")
        return {k: np.array(v, dtype=np.float64) for k, v in trainer.get_weights().items()}
    if which == "keras":
        import keras

        floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
        try:
            return emitted_weights(emitted_module(where, spec, "keras", spec.name))
        finally:  # the emitted build_model sets Keras' global float type; other tests expect theirs
            keras.config.set_floatx(floatx)
            keras.config.set_dtype_policy(policy)
    return emitted_weights(emitted_module(where, spec, which, spec.name))


def emitted_weights(module) -> dict[str, np.ndarray]:
    """The weights an emitted program's ``build_model`` initialises, in nnspec's names and Keras' layouts."""
    return {k: np.array(v, dtype=np.float64) for k, v in module.get_weights(module.build_model("float64")).items()}


@pytest.mark.parametrize("layout", list(SPECS))
@pytest.mark.parametrize("kind", INITIALIZER_KINDS)
@pytest.mark.parametrize("target", TARGETS)
def test_native_initial_weights_follow_keras_distribution(target, kind, layout, drawn):
    need_framework(target)
    spec = SPECS[layout]()
    name = f"{layer_name(layout, kind)}/kernel"
    w = drawn(target, layout)[name]
    (declared,) = [s for s in weight_specs(spec) if s.name == name]
    init = declared.initializer
    assert w.shape == declared.shape
    fans = weight_fans(w.shape)
    if kind in ("zeros", "ones", "constant"):
        value = {"zeros": 0.0, "ones": 1.0}.get(kind, getattr(init, "value", None))
        assert np.array_equal(w, np.full(w.shape, value)), f"{target}: {kind} is not exactly {value}"
        return
    if kind == "orthogonal":
        flat = w.reshape(-1, w.shape[-1])
        gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        np.testing.assert_allclose(gram, init.gain ** 2 * np.eye(min(flat.shape)), atol=1e-5)
    else:
        dist, bounds = expected(init, fans)
        if bounds is not None:
            assert bounds[0] - 1e-6 <= w.min() and w.max() <= bounds[1] + 1e-6, (w.min(), w.max(), bounds)
        p = stats.kstest(w.ravel(), dist.cdf).pvalue
        assert p > P_VALUE, f"{target}: {kind} kernel of shape {w.shape} is not Keras' distribution (KS p = {p:.2g})"
    if not target.startswith("numpy"):  # the framework's own random numbers, not the canonical draw
        assert not np.allclose(w, canonical(layout)[name])


@lru_cache(maxsize=None)
def canonical(layout: str) -> dict[str, np.ndarray]:
    spec = SPECS[layout]()
    return initial_weights(spec, spec.training.seed, np.float64)
