"""The tools on a graph, from the command line, on every backend: ``nnspec diagnose`` measures every node
(the merges of residuals and branches among them, in the spec's order), ``nnspec lr-find`` recommends a rate,
``nnspec equiv`` finds the three backends in agreement over 50 float64 steps.

The spec is resume_cases.graph_resume_spec: iris through residual bodies with BatchNormalization and dropout,
a projection shortcut, branches joined by Concatenate (one the identity) and a value used again."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from frameworks import need
from resume_cases import graph_resume_spec

from cli import app
from compiler.pipeline import compile_text
from compiler.weights import weight_specs

runner = CliRunner()
BACKENDS = ("numpy", "torch", "keras")
SPEC = compile_text(graph_resume_spec(2), "g.nns").spec


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "g.nns"
    path.write_text(graph_resume_spec(2))
    return path


def framework(backend: str) -> None:
    if backend != "numpy":
        need(backend)


def table_rows(output: str) -> list[str]:
    """The first column of the table after its dashed rule, up to the first blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-----")) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line.split()[0])
    return rows


@pytest.mark.parametrize("backend", BACKENDS)
def test_diagnose_measures_every_node_of_a_graph(backend, spec_file, tmp_path):
    framework(backend)
    plot = tmp_path / "d.png"
    result = runner.invoke(app, ["diagnose", str(spec_file), "--backend", backend, "--batches", "2",
                                 "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == [layer.name for layer in SPEC.layers]
    assert {"add", "add_1", "add_2", "concatenate"} <= {layer.name for layer in SPEC.layers}
    assert plot.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_lr_find_recommends_a_rate_for_a_graph(backend, spec_file, tmp_path):
    framework(backend)
    plot = tmp_path / "lr.png"
    result = runner.invoke(app, ["lr-find", str(spec_file), "--backend", backend, "--steps", "40",
                                 "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "recommended learning rate" in result.output and plot.exists()


def test_equiv_finds_the_backends_in_agreement_on_a_graph(spec_file, tmp_path):
    for backend in BACKENDS[1:]:
        need(backend)
    out = tmp_path / "equiv"
    result = runner.invoke(app, ["equiv", str(spec_file), "--steps", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "equivalent: largest relative difference" in result.output
    report = json.loads((out / "equiv.json").read_text())
    assert {b: len(losses) for b, losses in report["losses"].items()} == {b: 50 for b in BACKENDS}
    for backend in BACKENDS[1:]:
        parted = report["diverged"][backend]
        assert parted["step"] is None and parted["layer"] is None, parted
        assert parted["max_loss_error"] <= 1e-9 and max(parted["weight_errors"].values()) <= 1e-9
        assert set(parted["weight_errors"]) == {w.name for w in weight_specs(SPEC)}  # every weight compared
