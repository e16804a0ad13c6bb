"""A hostile and a careless user against what issue 10 added (devices, precisions, the device-resident loop,
the ``shapes`` data set): every problem they can cause is one line and exit 2 with nothing written, never an
internal error; the torch backend's own steps train to the bits of the checked host steps in every corner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS
from compiler.pipeline import compile_text
from hostile_files import listing
from spec_lang.diagnostics import SpecError

runner = CliRunner()


def sparse_spec(metrics: str) -> str:
    return f"""model m {{
    Input([4])
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = sgd(learning_rate=0.01)
    batch_size = 8
    epochs = 1
    metrics = [{metrics}]
    data = iris
}}
"""


@pytest.mark.parametrize("metric", ["mse", "mae", "rmse"])
def test_a_value_metric_on_class_index_targets_is_a_compile_error(metric):
    """mse/mae/rmse compare outputs with targets of their shape; sparse_categorical_crossentropy's targets
    are class indices (one per sample), which would broadcast against the outputs (an internal error on every
    backend before, or a silently wrong mean for a one-unit output). Refused when compiled."""
    with pytest.raises(SpecError) as err:
        compile_text(sparse_spec(f"accuracy, {metric}"), "m.nns")
    assert f"metric {metric}" in str(err.value) and "class indices" in str(err.value)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_train_refuses_a_value_metric_on_class_indices_and_writes_nothing(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(sparse_spec("accuracy, mse"))
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", "m.nns", "--backend", backend, "-q", "--out", "run"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "class indices" in result.output
    assert listing(tmp_path) == before
