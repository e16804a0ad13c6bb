"""``nnspec search --show STUDY_DIR``: the study's trials from its storage, best first, with the pruned and
failed ones and their errors; ``--dashboard`` without optuna-dashboard is one line."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from cli import app
from search_cases import DIVERGING_SPACE, write_spec

runner = CliRunner()


def test_show_lists_the_trials_best_first_with_failures_and_their_errors(tmp_path):
    spec = write_spec(tmp_path, DIVERGING_SPACE)
    out = tmp_path / "s"
    assert runner.invoke(app, ["search", str(spec), "--sampler", "grid", "--out", str(out), "-q"]).exit_code == 0
    result = runner.invoke(app, ["search", "--show", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    complete = next(i for i, line in enumerate(lines) if "complete" in line and "│" in line)
    failed = next(i for i, line in enumerate(lines) if "failed" in line and "│" in line)
    assert complete < failed, "the complete trial is listed before the failed one"
    assert "diverge" in result.output and "val_loss" in result.output
    assert "2/2 trials done: 1 complete, 0 pruned, 1 failed" in result.output
    assert "best val_loss" in result.output


def test_show_of_a_directory_without_a_study_is_one_line(tmp_path):
    result = runner.invoke(app, ["search", "--show", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a study directory" in result.output and "Traceback" not in result.output


def test_dashboard_without_optuna_dashboard_says_how_to_install_it(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, DIVERGING_SPACE.replace("choice(0.01, 1e12)", "choice(0.01, 0.02)"))
    out = tmp_path / "s"
    assert runner.invoke(app, ["search", str(spec), "--trials", "1", "--out", str(out), "-q"]).exit_code == 0
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if the extra were not installed
    result = runner.invoke(app, ["search", "--show", str(out), "--dashboard"])
    assert result.exit_code == 2
    assert "pip install -e '.[dashboard]'" in result.output
