"""Data shared by the optimizer tests (tests/test_optimizers.py, tests/test_optimizers_vs_torch.py)."""

from __future__ import annotations

import numpy as np

TINY = 1e-300  # an epsilon that is positive (as the IR requires) but changes no sum it is added to

N_STEPS = 20
RNG = np.random.default_rng(1234)
W_INIT = RNG.standard_normal((3, 4))
B_INIT = RNG.standard_normal(4)
G_SEQ = [(RNG.standard_normal((3, 4)), RNG.standard_normal(4)) for _ in range(N_STEPS)]
