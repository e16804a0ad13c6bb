"""Hostile data files — a corrupt or malicious .npz, a CSV with a 200 KB cell, FIFOs, /dev/zero — given to every
command that loads data (train, diagnose, lr-find, equiv), through --data and through the spec: each is refused
at once with exit 2 and one message naming the file and the problem, no traceback, and nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from runtime.input_files import BUDGET_VARIABLE
from cli import app
from cli.exit_codes import EXIT_ERRORS
from hostile_files import BOMB_BUDGET, EXPECTED, SPEC, build_hostile, hang_guard, listing, run_nnspec

runner = CliRunner()

COMMANDS = {
    "train": ["train"],
    "diagnose": ["diagnose"],
    "lr-find": ["lr-find"],
    "equiv": ["equiv", "--backends", "numpy"],
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(directory, {variant: file name}): every hostile file, a spec naming each, and iris.nns (good data)."""
    directory = tmp_path_factory.mktemp("hostile")
    files = build_hostile(directory)
    for name in files.values():
        (directory / f"{name}.nns").write_text(SPEC.replace("DATA", name))
    (directory / "iris.nns").write_text(SPEC.replace('"DATA"', "iris"))
    return directory, files


def arguments(command: str, route: str, directory, name: str) -> list[str]:
    if route == "--data":
        return [*COMMANDS[command], str(directory / "iris.nns"), "--data", str(directory / name)]
    return [*COMMANDS[command], str(directory / f"{name}.nns")]


def assert_refused(code: int, output: str, variant: str, name: str) -> None:
    assert code == EXIT_ERRORS, output
    assert "Traceback" not in output and "internal error" not in output, output
    assert f"data file '" in output and name in output, output
    assert EXPECTED[variant][1] in output, output


@pytest.mark.parametrize("route", ["--data", "spec"])
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("variant", EXPECTED)
def test_every_command_refuses_hostile_data_at_once_and_writes_nothing(hostile, variant, command, route, tmp_path,
                                                                       monkeypatch):
    directory, files = hostile
    name = files[variant]
    monkeypatch.chdir(tmp_path)  # where train, equiv and the plots would write by default
    if variant == "zip bomb":
        monkeypatch.setenv(BUDGET_VARIABLE, BOMB_BUDGET)
    before = listing(directory)
    with hang_guard():
        result = runner.invoke(app, arguments(command, route, directory, name))
    assert_refused(result.exit_code, result.output, variant, name)
    assert listing(tmp_path) == {}
    assert listing(directory) == before


@pytest.mark.parametrize("variant", EXPECTED)
def test_train_refuses_hostile_data_in_a_fresh_process_without_hanging(hostile, variant, tmp_path):
    """Through the console entry point: exit 2, not 70 (internal error); killed after 20 s if it hangs."""
    directory, files = hostile
    env = {BUDGET_VARIABLE: BOMB_BUDGET} if variant == "zip bomb" else {}
    done = run_nnspec(arguments("train", "--data", directory, files[variant]), cwd=tmp_path, env=env)
    assert_refused(done.returncode, done.stderr, variant, files[variant])
    assert listing(tmp_path) == {}


def test_a_bad_data_budget_setting_is_a_user_error(hostile, tmp_path, monkeypatch):
    directory, _ = hostile
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(BUDGET_VARIABLE, "lots")
    result = runner.invoke(app, ["train", str(directory / "iris.nns"), "--data", str(directory / "crc.npz")])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert f"{BUDGET_VARIABLE}: expected a size in bytes such as 536870912, 512M or 2G, received 'lots'" in \
        result.output
    assert listing(tmp_path) == {}


OPTIONS = {
    "lr-find --max-lr inf": (["lr-find", "--max-lr", "inf"], "--min-lr must be positive and below --max-lr, both "
                                                             "finite (received 1e-07 and inf)"),
    "lr-find --min-lr nan": (["lr-find", "--min-lr", "nan"], "--min-lr must be positive and below --max-lr"),
    "equiv --tolerance nan": (["equiv", "--backends", "numpy", "--tolerance", "nan"],
                              "--tolerance must be a positive number (received nan)"),
    "equiv --tolerance -1": (["equiv", "--backends", "numpy", "--tolerance", "-1"],
                             "--tolerance must be a positive number (received -1)"),
    "equiv --backends twice": (["equiv", "--backends", "numpy,numpy"],
                               "--backends names a backend more than once (numpy, numpy)"),
}


@pytest.mark.parametrize("case", OPTIONS)
def test_options_that_make_no_sense_are_refused_before_any_work(hostile, case, tmp_path, monkeypatch):
    directory, _ = hostile
    monkeypatch.chdir(tmp_path)
    command, message = OPTIONS[case]
    result = runner.invoke(app, [command[0], str(directory / "iris.nns"), *command[1:]])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert message in result.output
    assert listing(tmp_path) == {}


# ---- generated sets too big to make: refused by the data budget before anything is allocated ------------------
GENERATED = {
    "spirals": "spirals(n_samples=9223372036854775807)",
    "blobs": "blobs(n_samples=600000000, features=4)",
    "regression": "regression(n_samples=100000000, features=1000)",
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", GENERATED)
def test_a_generated_set_beyond_the_data_budget_is_refused_before_it_is_made(kind, command, tmp_path, monkeypatch):
    """``n_samples = 2**63 − 1`` (valid in the IR) once crashed with numpy's 'negative dimensions'; a set that
    would not fit is a one-line error naming its size and the budget, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)  # a run directory would go to ./runs
    spec = tmp_path / "big.nns"
    head = "Dense(1)" if kind == "regression" else "Dense(3, activation=softmax)"
    loss = "mse" if kind == "regression" else "sparse_categorical_crossentropy"
    features = 1000 if kind == "regression" else (4 if kind == "blobs" else 2)
    spec.write_text(f"model m {{\n    Input([{features}])\n    {head}\n}}\ntrain {{\n    loss = {loss}\n"
                    f"    optimizer = sgd(learning_rate=0.1)\n    data = {GENERATED[kind]}\n    epochs = 1\n}}\n")
    before = listing(tmp_path)
    result = runner.invoke(app, [*COMMANDS[command], str(spec)])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert f"data: {kind}(" in result.output and "more than the data budget" in result.output, result.output
    assert listing(tmp_path) == before


# ---- generated sets with hostile settings: more classes than samples, a noise that overflows ---------------------
ODD_GENERATED = {
    # one centre (blobs) or one loop step (spirals) a class: a billion classes of ten samples once ran out of
    # memory (blobs) or ran for hours (spirals)
    "blobs-classes": ("blobs(n_samples=10, classes=1000000000)", "has more classes (1000000000) than samples (10)"),
    "spirals-classes": ("spirals(n_samples=10, classes=100000000)", "has more classes (100000000) than samples (10)"),
    # noise ** 2 once overflowed in the unscaled-inputs lint (internal error, even under check)
    "blobs-noise": ("blobs(n_samples=10, classes=2, noise=1e308)", "data: x contains inf"),
    "spirals-noise": ("spirals(n_samples=10, classes=2, noise=1e308)", "data: x contains inf"),
}


@pytest.mark.parametrize("command", ["check", *COMMANDS])
@pytest.mark.parametrize("case", ODD_GENERATED)
def test_a_generated_set_with_odd_settings_is_one_line_error(case, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, message = ODD_GENERATED[case]
    spec = tmp_path / "odd.nns"
    spec.write_text(f"model m {{\n    Input([2])\n    Normalization()\n    Dense(2, activation=softmax)\n}}\n"
                    f"train {{\n    loss = sparse_categorical_crossentropy\n    optimizer = sgd\n"
                    f"    data = {data}\n    epochs = 1\n}}\n")
    before = listing(tmp_path)
    result = runner.invoke(app, [*COMMANDS.get(command, [command]), str(spec)])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if command == "check":
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == EXIT_ERRORS, result.output
        assert message in result.output, result.output
        assert listing(tmp_path) == before
