"""`nnspec report` compares run directories; `nnspec equiv` on the reference backend alone."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

SPEC = """model m {{
    Input([4])
    Dense({units}, activation=relu)
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    epochs = 4
    validation_split = 0.2
    metrics = [accuracy]
    data = iris
}}
"""


def make_run(tmp_path: Path, name: str, units: int) -> Path:
    spec = tmp_path / f"{name}.nns"
    spec.write_text(SPEC.format(units=units))
    out = tmp_path / name
    result = runner.invoke(app, ["train", str(spec), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_report_compares_runs_and_writes_one_plot(tmp_path):
    a, b = make_run(tmp_path, "a", 8), make_run(tmp_path, "b", 16)
    plot = tmp_path / "cmp.png"
    result = runner.invoke(app, ["report", str(a), str(b), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["run", "backend", "epochs"]
    assert "val_accuracy" in lines[0]
    row_b = next(line for line in lines if line.startswith("b "))
    assert "-Dense(8, activation=relu); +Dense(16, activation=relu)" in row_b
    final_b = json.loads((b / "history.json").read_text())[-1]
    assert f"{final_b['val_loss']:.4f}" in row_b
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_report_on_a_directory_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_equiv_with_the_reference_alone_writes_plot_and_report(tmp_path):
    out = tmp_path / "eq"
    result = runner.invoke(app, ["equiv", str(ROOT / "specs" / "digits_mlp.nns"), "--backends", "numpy",
                                 "--steps", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "equiv.json").read_text())
    assert len(report["losses"]["numpy"]) == 6
    assert (out / "losses.png").exists()


def test_equiv_rejects_an_unknown_backend():
    result = runner.invoke(app, ["equiv", str(ROOT / "specs" / "digits_mlp.nns"), "--backends", "numpy,jax"])
    assert result.exit_code == 2
    assert "unknown backend jax" in result.output
