"""`nnspec fix`: the concrete spec of one point of a search space, the file a user commits after a search.

From a JSON point (`--params`) or a study's trial (`--trial N --study DIR`): formatted, compiling, with a
comment naming where the point came from; every bad input is one line naming the problem, exit 2, and
nothing written.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from compiler.pipeline import compile_file, compile_text
from compiler.space import load_space
from search_cases import HighTrial

runner = CliRunner()

SPACE = textwrap.dedent("""
    # the digits MLP, searched
    units = choice(16, 32)
    model digits {
        Input(shape=[64])
        Rescaling(scale=0.0625)
        repeat int_range(1, 3) {
            Dense(units, activation=relu)
        }
        optional(Dropout(0.2))
        Dense(10, activation=softmax)
    }

    train {
        loss = sparse_categorical_crossentropy
        optimizer = choice(adam(learning_rate=log_range(1e-3, 1e-2)), sgd(learning_rate=0.05, momentum=float_range(0.0, 0.9)))
        batch_size = 64
        epochs = 3
        metrics = [accuracy]
        validation_split = 0.2
        data = digits
    }
    """).lstrip()


@pytest.fixture
def space_file(tmp_path) -> Path:
    path = tmp_path / "digits_search.nns"
    path.write_text(SPACE)
    return path


def fix(*args: str):
    return runner.invoke(app, ["fix", *map(str, args)])


def write_params(tmp_path: Path, point, name: str = "point.json") -> Path:
    path = tmp_path / name
    path.write_text(point if isinstance(point, str) else json.dumps(point))
    return path


def layers(text: str) -> list[tuple]:
    """The compiled model's layers as (kind, units or rate or None)."""
    spec = compile_text(text, "fixed.nns").spec
    return [(layer.kind, getattr(layer, "units", getattr(layer, "rate", None))) for layer in spec.layers]


def test_params_round_trip_writes_the_suggested_point_as_a_formatted_spec_that_compiles(tmp_path, space_file):
    space = load_space(space_file)
    point = space.suggest(HighTrial())
    assert point == {"units": 32, "model.repeat[0].count": 3, "model.optional[0]": False,
                     "train.optimizer": "sgd", "train.optimizer.sgd.momentum": 0.9}
    params = write_params(tmp_path, point)
    out = tmp_path / "fixed.nns"
    result = fix(space_file, "--params", params, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.splitlines()[0] == f"# nnspec fix: the point {params} of the search space {space_file}"
    assert layers(text) == [("Input", None), ("Rescaling", None), ("Dense", 32), ("Dense", 32), ("Dense", 32),
                            ("Dense", 10)]  # depth 3 of units 32, no Dropout
    training = compile_file(out).spec.training
    assert training.optimizer.kind == "sgd" and training.optimizer.momentum == 0.9
    assert runner.invoke(app, ["fmt", "--check", str(out)]).exit_code == 0
    assert runner.invoke(app, ["check", str(out)]).exit_code == 0


def test_without_out_the_spec_goes_to_stdout(tmp_path, space_file):
    point = load_space(space_file).extremes()[0]
    result = fix(space_file, "--params", write_params(tmp_path, point))
    assert result.exit_code == 0, result.output
    assert layers(result.stdout) == [("Input", None), ("Rescaling", None), ("Dense", 16), ("Dropout", 0.2),
                                     ("Dense", 10)]


def test_out_refuses_to_overwrite_an_existing_file_unless_forced(tmp_path, space_file):
    params = write_params(tmp_path, load_space(space_file).extremes()[0])
    out = tmp_path / "fixed.nns"
    out.write_text("mine\n")
    result = fix(space_file, "--params", params, "--out", out)
    assert result.exit_code == 2
    assert f"{out}: error: the file exists; give --force to overwrite it" in result.stderr
    assert out.read_text() == "mine\n"
    assert fix(space_file, "--params", params, "--out", out, "--force").exit_code == 0
    assert out.read_text().startswith("# nnspec fix:")


BASE = {"units": 16, "model.repeat[0].count": 1, "model.optional[0]": True, "train.optimizer": "adam",
        "train.optimizer.adam.learning_rate": 0.001}


@pytest.mark.parametrize("content, message", [
    ("{\"units\": 16,", "point.json:1:14: error: not valid JSON: "),
    ("[16, 1]", "point.json: error: must hold a JSON object {\"dimension name\": value, ...}, not a list"),
    ("{\"units\": 16, \"units\": 32}", "point.json: error: the dimension 'units' is given twice"),
    ("{\"units\": NaN}", "point.json: error: NaN is not a value a dimension takes"),
    ("{\"units\": [16]}", "point.json: error: units: a dimension's value is a number, true/false or a label"),
    ({**BASE, "unit": 16}, "point.json: error: unknown dimension 'unit'; did you mean 'units'?"),
    ({k: v for k, v in BASE.items() if k != "units"}, "point.json: error: missing dimension 'units' (one of 16, 32)"),
    ({**BASE, "units": 64}, "point.json: error: dimension 'units': expected one of 16, 32, received 64"),
    ({**BASE, "model.repeat[0].count": 4}, "error: dimension 'model.repeat[0].count': expected an integer in [1, 3]"),
    ({**BASE, "train.optimizer.sgd.momentum": 0.5},
     "error: dimension 'train.optimizer.sgd.momentum' does not exist at this point: it exists only when "
     "train.optimizer is sgd"),
])
def test_a_bad_point_is_one_line_naming_the_problem_and_nothing_is_written(tmp_path, space_file, content, message):
    params = write_params(tmp_path, content)
    out = tmp_path / "fixed.nns"
    result = fix(space_file, "--params", params, "--out", out)
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_missing_params_file_is_one_line(tmp_path, space_file):
    result = fix(space_file, "--params", tmp_path / "none.json")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path / 'none.json'}: error: no such file"


def test_a_spec_without_dimensions_has_nothing_to_fix(tmp_path):
    plain = tmp_path / "plain.nns"
    plain.write_text("model m {\n    Input([4])\n    Dense(3, activation=softmax)\n}\n")
    result = fix(plain, "--params", write_params(tmp_path, {}))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{plain}: error: has no search dimensions: it is a concrete spec already " \
                                    "(nothing to fix)"


@pytest.mark.parametrize("args, message", [
    ([], "give the point: --params FILE.json, or --trial N with --study DIR"),
    (["--params", "p.json", "--trial", "0", "--study", "s"], "give the point: --params FILE.json, or --trial N"),
    (["--trial", "0"], "--trial N needs --study DIR"),
    (["--params", "p.json", "--study", "s"], "--study and --storage go with --trial N, not with --params"),
])
def test_the_point_is_given_one_way(space_file, args, message):
    result = fix(space_file, *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{space_file}: error: {message}" or message in result.stderr, result.stderr


# ---- --trial N --study DIR -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, Path]:
    """A real two-trial search of the space (one epoch each): the spec and the study directory."""
    root = tmp_path_factory.mktemp("searched")
    spec = root / "digits_search.nns"
    spec.write_text(SPACE)
    out = root / "study"
    result = runner.invoke(app, ["search", str(spec), "--trials", "2", "--epochs", "1", "--sampler", "random",
                                 "--pruner", "none", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return spec, out


def test_a_trial_is_written_as_the_spec_it_trained(searched, tmp_path):
    spec, study = searched
    out = tmp_path / "trial1.nns"
    result = fix(spec, "--trial", 1, "--study", study, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    trained = (study / "trials" / "0001" / "spec.nns").read_text()
    comment, body = text.split("\n\n", 1)
    assert body == trained.split("\n\n", 1)[1]  # the point and the study's --epochs 1, byte for byte
    assert comment.startswith(f"# nnspec fix: trial 1 (val_loss ")
    assert f"of the study 'study' in {study}, a point of the search space {spec}" in comment
    assert "epochs = 1: the study's --epochs" in comment
    assert runner.invoke(app, ["fmt", "--check", str(out)]).exit_code == 0
    assert compile_file(out).spec.training.epochs == 1


def test_a_trial_that_does_not_exist_is_an_error(searched):
    spec, study = searched
    result = fix(spec, "--trial", 7, "--study", study)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{study}: error: the study 'study' has no trial 7 (its trials are 0 to 1)"


def test_a_study_of_another_space_is_refused_with_what_changed(searched, tmp_path):
    spec, study = searched
    other = tmp_path / "other.nns"
    other.write_text(SPACE.replace("choice(16, 32)", "choice(16, 64)"))
    result = fix(other, "--trial", 0, "--study", study)
    assert result.exit_code == 2
    assert f"{other}: error: this is not the search space of the study in {study}:" in result.stderr
    assert "units" in result.stderr.split(":", 3)[-1]


def test_a_directory_that_is_not_a_study_is_one_line(space_file, tmp_path):
    result = fix(space_file, "--trial", 0, "--study", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"{tmp_path}: error: not a study directory (no study.json"), \
        result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def hand_made_study(space_file: Path, out: Path):
    """A study directory whose trials 0..3 are complete, pruned, failed and running (no training)."""
    import optuna
    from optuna.trial import TrialState

    from tools.search.storage import default_url, open_storage
    from tools.search.study_dir import StudyInfo, write_study_json

    space = load_space(space_file)
    out.mkdir()
    study = optuna.create_study(study_name="hand", storage=open_storage(default_url(out)),
                                sampler=optuna.samplers.RandomSampler(seed=1))
    with warnings.catch_warnings():  # Optuna: the storage's heartbeat is meant for Study.optimize
        warnings.simplefilter("ignore", UserWarning)
        trials = [study.ask() for _ in range(4)]
    points = [space.suggest(trial) for trial in trials]
    study.tell(trials[0], 0.25)
    trials[1].report(0.9, 1)
    trials[1].report(0.8, 2)
    study.tell(trials[1], state=TrialState.PRUNED)
    trials[2].set_user_attr("error", "diverged at step 3 (loss nan)")
    study.tell(trials[2], state=TrialState.FAIL)
    write_study_json(out, StudyInfo(spec=str(space_file), study_name="hand", storage="", sampler="random",
                                    pruner="median", metric="val_loss", direction="minimize", backend="numpy",
                                    device=None, seed=1, trials=4, fingerprint=space.fingerprint()))
    return space, points


def test_pruned_and_failed_trials_are_written_with_a_note_and_a_running_one_is_refused(space_file, tmp_path):
    space, points = hand_made_study(space_file, tmp_path / "hand")
    study = tmp_path / "hand"
    done = fix(space_file, "--trial", 0, "--study", study)
    assert done.exit_code == 0, done.output
    assert done.stdout == space.concrete_text(points[0], comment=(
        f"nnspec fix: trial 0 (val_loss 0.25) of the study 'hand' in {study}, a point of the search space "
        f"{space_file}"))
    assert done.stderr == ""
    pruned = fix(space_file, "--trial", 1, "--study", study)
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stderr.strip() == (f"{study}: note: trial 1 was pruned after epoch 2: its point is written all "
                                     "the same, but it was not trained to the end")
    assert pruned.stdout.startswith("# nnspec fix: trial 1 (pruned) of the study 'hand'")
    assert layers(pruned.stdout) == layers(space.concrete_text(points[1]))
    failed = fix(space_file, "--trial", 2, "--study", study)
    assert failed.exit_code == 0, failed.output
    assert failed.stderr.strip() == (f"{study}: note: trial 2 failed (diverged at step 3 (loss nan)): its point is "
                                     "written all the same")
    running = fix(space_file, "--trial", 3, "--study", study)
    assert running.exit_code == 2
    assert running.stderr.strip().startswith(f"{study}: error: trial 3 has not finished (running)")
    assert running.stdout == ""


def test_storage_names_the_studys_database_and_a_bad_one_is_one_line(space_file, tmp_path):
    from tools.search.storage import default_url

    space, points = hand_made_study(space_file, tmp_path / "hand")
    study = tmp_path / "hand"
    given = fix(space_file, "--trial", 0, "--study", study, "--storage", default_url(study))
    assert given.exit_code == 0, given.output
    assert layers(given.stdout) == layers(space.concrete_text(points[0]))
    bad = fix(space_file, "--trial", 0, "--study", study, "--storage", "postgresql://me:secret@127.0.0.1:1/db")
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "secret" not in bad.stderr, bad.stderr
    assert "cannot open storage postgresql://me:***@127.0.0.1:1/db" in bad.stderr


def test_every_problem_of_a_point_is_a_line_and_an_unknown_name_lists_the_dimensions(tmp_path, space_file):
    params = write_params(tmp_path, {"depth": 2, "train.optimizer": "adam", "train.optimizer.adam.learning_rate": 1.0})
    result = fix(space_file, "--params", params)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"{params}: error: unknown dimension 'depth'"
    assert f"{params}: error: missing dimension 'units' (one of 16, 32)" in lines
    assert any(line.startswith(f"{params}: error: dimension 'train.optimizer.adam.learning_rate': expected a "
                               "number in [0.001, 0.01]") for line in lines), lines
    assert lines[-1] == (f"{params}: note: the space's dimensions: units, model.repeat[0].count, model.optional[0], "
                         "train.optimizer, train.optimizer.adam.learning_rate, train.optimizer.sgd.momentum")


# ---- a relative data file path names the same file from where the spec is written -----------------------------
def _data_space(folder: Path, data_line: str) -> Path:
    """A search spec in ``folder`` with a small data file beside it (data/small.npz) and ``data_line``."""
    import numpy as np

    (folder / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(folder / "data" / "small.npz", x=rng.normal(size=(40, 64)), y=rng.integers(0, 10, size=40))
    spec_path = folder / "search.nns"
    spec_path.write_text(SPACE.replace("data = digits", data_line).replace("epochs = 3", "epochs = 1"))
    return spec_path


def test_fix_out_elsewhere_rewrites_a_relative_data_path_and_the_spec_trains(tmp_path, monkeypatch):
    spec_path = _data_space(tmp_path / "project", 'data = "data/small.npz"')
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"units": 16, "model.repeat[0].count": 1, "model.optional[0]": False,
                                  "train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001}))
    out = tmp_path / "elsewhere" / "deep" / "best.nns"
    out.parent.mkdir(parents=True)
    result = fix(spec_path, "--params", params, "--out", out)
    assert result.exit_code == 0, result.output
    assert 'data = "../../project/data/small.npz"' in out.read_text()
    compile_file(out)
    # the written spec trains where it is, from any current folder
    monkeypatch.chdir(tmp_path / "elsewhere")
    trained = runner.invoke(app, ["train", str(out), "--out", str(tmp_path / "run"), "-q"])
    assert trained.exit_code == 0, trained.output
    assert "small.npz" in json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    # to standard output: relative to the current folder
    monkeypatch.chdir(tmp_path)
    printed = fix(spec_path, "--params", params)
    assert printed.exit_code == 0, printed.output
    assert 'data = "project/data/small.npz"' in printed.stdout


@pytest.mark.parametrize("data_line, written", [
    ('data = file("data/small.npz")', 'data = file("../project/data/small.npz")'),
    ('data = file(label="y", path="data/small.npz")', 'data = file(label="y", path="../project/data/small.npz")'),
    ('data = train_file', 'data = "../project/data/small.npz"'),  # a constant's string is written in place
    ("data = digits", "data = digits"),  # a bundled data set is not a path
    ('data = "/abs/small.npz"', 'data = "/abs/small.npz"'),  # absolute paths stay as written
    ('data = "~/small.npz"', 'data = "~/small.npz"'),
])
def test_only_relative_data_file_paths_are_rewritten(tmp_path, data_line, written):
    spec_path = _data_space(tmp_path / "project", data_line)
    if "train_file" in data_line:
        spec_path.write_text('train_file = "data/small.npz"\n' + spec_path.read_text())
    space = load_space(spec_path)
    point = space.extremes()[0]
    text = space.concrete_text(point, written_to=tmp_path / "other" / "x.nns")
    assert written in text
    # written beside the search spec, or with no place given, the path is as the search spec writes it
    assert data_line.split(" = ")[1] in space.concrete_text(point, written_to=spec_path.parent / "best.nns")
    assert data_line.split(" = ")[1] in space.concrete_text(point)
