"""Reading the pickled state that Optuna's ``CmaEsSampler`` keeps in a storage, without running code.

Optuna's ``CmaEsSampler`` stores its optimizer (a ``cmaes`` object) in the storage, pickled and hex-encoded
in the system attrs of trials, and unpickles it from the last complete trial that has one whenever it
samples: ``pickle.loads`` on bytes from the storage. A crafted storage (a ``study.db`` received with a
study directory, a shared database someone else can write) could so run any code in ``nnspec search
--resume --sampler cmaes`` or in a worker joining the study. ``restricted_loads`` unpickles only the
classes that state consists of — the ``cmaes`` optimizers and NumPy's arrays, dtypes and scalars — and
raises ``UnsafePickle`` for any other global (``os.system``, ``builtins.eval``, …) before it is touched,
so no other callable is ever looked up, let alone called.
"""

from __future__ import annotations

import io
import pickle

# (module, name) of every global a pickled cmaes CMA / SepCMA / CMAwM refers to (NumPy 1.x and 2.x names)
ALLOWED = frozenset({
    ("cmaes._cma", "CMA"), ("cmaes._sepcma", "SepCMA"), ("cmaes._cmawm", "CMAwM"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
})


class UnsafePickle(Exception):
    """Pickled data that refers to something other than the CMA-ES state's own classes."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise UnsafePickle(f"it refers to {module}.{name}"[:200])
        return super().find_class(module, name)


def restricted_loads(data: bytes):
    """``pickle.loads(data)`` admitting only the globals of ``ALLOWED``; ``UnsafePickle`` for any other
    global and for data that is not a pickle."""
    try:
        return _Restricted(io.BytesIO(data)).load()
    except UnsafePickle:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or garbage bytes: not a state we can read
        raise UnsafePickle(f"it is not a pickle ({type(exc).__name__})") from None
