"""Keras native mode's random state: the Dropout layers draw their masks from Keras' own
``SeedGenerator``, whose state is part of the trainer's checkpointed ``state()``, so a resumed run
draws the masks an uninterrupted one would. (That an interrupted run, resumed from a checkpoint file,
ends bit for bit as one that ran through — Keras native included, Ctrl-C through ``nnspec train``
included — is the loop's contract, tests/test_loop_contract.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from frameworks import need

keras = need("keras")

from runtime.data import load_dataset
from backends.keras.trainer import KerasTrainer
from compiler.pipeline import compile_text
from resume_cases import iris_resume_spec


@pytest.fixture(scope="module")
def setup():
    spec = compile_text(iris_resume_spec(5), "m.nns").spec
    return spec, load_dataset(spec)


def test_the_run_draws_dropout_masks_from_keras_seed_generator(setup):
    spec, data = setup
    trainer = KerasTrainer(spec, mode="native")
    before = {k: v.copy() for k, v in trainer.state().items() if k.startswith("random/")}
    assert before  # the Dropout layer's seed generator is part of the checkpointed state
    trainer.train_batch(data.x_train[:16], data.y_train[:16], 0, 0.0)
    after = trainer.state()
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # a training step drew masks


def test_restoring_the_seed_state_draws_the_same_masks(setup):
    spec, data = setup
    x, y = data.x_train[:16], data.y_train[:16]
    trainer = KerasTrainer(spec, mode="native")
    start_weights, start_state = trainer.get_weights(), trainer.state()
    first = trainer.train_batch(x, y, 0, 0.0)[1]  # rate 0: the weights stay, only the masks move
    second = trainer.train_batch(x, y, 1, 0.0)[1]
    assert not np.array_equal(first, second)  # each step its own masks
    again = KerasTrainer(spec, start_weights, mode="native")
    again.load_state(trainer.state())
    np.testing.assert_array_equal(again.train_batch(x, y, 2, 0.0)[1], trainer.train_batch(x, y, 2, 0.0)[1])
    assert start_state.keys() == trainer.state().keys()
