"""`nnspec check` on a spec with search dimensions checks the whole space.

It lists the dimensions and the size, compiles the base point, the extremes of every dimension and seeded
samples, and reports each problem once, in the user's file, with the caret under the dimension whose value
makes the model invalid ("the pool shrinks the image below 1 pixel at depth 6").
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from compiler.space import space_of
from compiler import space_check
from compiler.space_check import check_space, points_to_check

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def write(tmp_path: Path, text: str, name: str = "space.nns") -> Path:
    path = tmp_path / name
    path.write_text(spec(text))
    return path


def check(*args: str):
    return runner.invoke(app, ["check", *args])


def line_col(text: str, fragment: str) -> tuple[int, int]:
    """The 1-based line and column where ``fragment`` first occurs in ``text``."""
    before = text[: text.index(fragment)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def caret_column(rendered: str, line: int) -> int:
    """The 1-based source column the caret under line ``line`` of a rendered diagnostic points at."""
    lines = rendered.splitlines()
    gutter = f"{line:>4} | "
    at = next(i for i, text in enumerate(lines) if text.startswith(gutter))
    return lines[at + 1].index("^") - len(gutter) + 1


TRAIN = """
train {
    loss = categorical_crossentropy
    optimizer = adam
}
"""

DEEP_POOLS = spec("""
model cnn {
    Input(shape=[32, 32, 3])
    repeat int_range(1, 8) {
        Conv2D(8, 3, padding=same)
        MaxPooling2D(2)
    }
    Flatten()
    Dense(10, activation=softmax)
}
""") + TRAIN


def test_a_pool_that_shrinks_the_image_below_one_pixel_is_blamed_on_the_depth_at_its_first_failing_value(tmp_path):
    path = write(tmp_path, DEEP_POOLS)
    result = check(str(path))
    assert result.exit_code == 2, result.output
    line, col = line_col(DEEP_POOLS, "int_range(1, 8)")
    head = f"{path}:{line}:{col}: error: at model.repeat[0].count = 6: MaxPooling2D window 2 is larger than"
    errors = [block for block in result.stderr.split(f"{path}:") if ": error: " in block.split("\n")[0]]
    assert len(errors) == 1, result.stderr  # depths 6, 7 and 8 fail the same way: reported once
    assert head in result.stderr, result.stderr
    rendered = result.stderr[result.stderr.index(head):]
    assert caret_column(rendered, line) == col
    assert rendered.splitlines()[2].count("~") == len("int_range(1, 8)") - 1  # the caret covers the dimension
    pool_line, pool_col = line_col(DEEP_POOLS, "MaxPooling2D(2)")
    assert f"{path}:{pool_line}:{pool_col}: note: the compiler found it here" in rendered
    assert f"{path}: 1 error in the search space" in result.stderr


def test_the_space_is_listed_with_its_size_dimensions_and_conditions(tmp_path):
    path = write(tmp_path, """
        units = choice(32, 64)
        model mlp {
            Input(shape=[64])
            repeat int_range(1, 3) {
                Dense(units, activation=relu)
            }
            optional(Dropout(0.2))
            Dense(10, activation=softmax)
        }
        train {
            loss = categorical_crossentropy
            optimizer = choice(adam, sgd(learning_rate=0.01, momentum=float_range(0.0, 0.9, step=0.3)))
        }
        """)
    result = check(str(path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    # 2 units x 3 depths x 2 (dropout) x (adam + 4 momenta under sgd) = 60
    assert "search space: 5 dimensions, 60 points" in out, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "choice" in rows["units"] and "32, 64" in rows["units"]
    assert "int" in rows["model.repeat[0].count"] and "[1, 3]" in rows["model.repeat[0].count"]
    assert "optional" in rows["model.optional[0]"]
    assert rows["train.optimizer.sgd.momentum"].rstrip().endswith("train.optimizer = sgd")
    assert "train.optimizer = sgd" not in rows["train.optimizer"]
    assert "base point" in out and "Total params" in out  # the base point's summary


def test_a_continuous_space_says_so(tmp_path):
    path = write(tmp_path, """
        model mlp {
            Input(shape=[4])
            Dense(3, activation=softmax)
        }
        train {
            loss = categorical_crossentropy
            optimizer = adam(learning_rate=log_range(1e-4, 1e-2))
        }
        """)
    result = check(str(path))
    assert result.exit_code == 0, result.output
    assert "search space: 1 dimension, continuous" in result.stdout


COMBINED = spec("""
pool = choice(2, 4)
model cnn {
    Input(shape=[32, 32, 3])
    repeat int_range(1, 3) {
        Conv2D(4, 3, padding=same)
        MaxPooling2D(pool)
    }
    Flatten()
    Dense(10, activation=softmax)
}
""") + TRAIN


def test_a_point_that_fails_only_in_combination_is_found_by_sampling_and_blamed_on_every_dimension(tmp_path):
    # The base point, and each dimension at each extreme with the others at their base values, compile:
    # 32 -> 16 (depth 1, pool 2); 32 -> 4 (depth 3, pool 2); 32 -> 8 (depth 1, pool 4). Depth 3 with pool 4
    # divides 32 by 64: only a sampled point finds it.
    path = write(tmp_path, COMBINED)
    space = space_of(COMBINED, str(path))
    extremes = space.extremes()
    assert {"pool": 4, "model.repeat[0].count": 3} not in extremes
    assert not check_space(space, samples=0).errors
    result = check(str(path))
    assert result.exit_code == 2, result.output
    line, col = line_col(COMBINED, "choice(2, 4)")
    assert (f"{path}:{line}:{col}: error: at pool = 4, model.repeat[0].count = 3: MaxPooling2D window 4 is larger"
            in result.stderr), result.stderr
    count_line, count_col = line_col(COMBINED, "int_range(1, 3)")
    assert f"{path}:{count_line}:{count_col}: note: model.repeat[0].count = 3 here" in result.stderr
    assert check("--samples", "0", str(path)).exit_code == 0


def test_a_point_where_several_dimensions_differ_is_blamed_on_the_one_that_fails_alone(tmp_path):
    # Depth 7 with 8 filters differs from the base point (depth 1, 4 filters) in two dimensions; depth
    # alone makes the image vanish, so depth alone is blamed, at the first depth that fails (6).
    text = DEEP_POOLS.replace("Conv2D(8, 3, padding=same)", "Conv2D(choice(4, 8), 3, padding=same)")
    space = space_of(text, "cnn.nns")
    compiler = space_check._Compiler(space, ())
    base = space.extremes()[0]
    point = {**base, "model.repeat[0].count": 7, "model.repeat[0].conv2d.filters": 8}
    space.validate(point)
    found = compiler.compile(point)[1]
    assert len(found) == 1 and found[0].severity == "error"
    blamed = space_check._attribute(compiler, base, point, found[0])
    assert blamed.message.startswith("at model.repeat[0].count = 6: MaxPooling2D window 2"), blamed.message
    line, col = line_col(text, "int_range(1, 8)")
    assert (blamed.span.line, blamed.span.column) == (line, col)
    # the other values of the point where depth 6 fails: the base point's (the filters did not matter)
    assert blamed.notes[-1].message == "the other values of that point: model.repeat[0].conv2d.filters = 4"


def test_the_base_point_failing_is_reported_where_the_spec_is_wrong(tmp_path):
    text = spec("""
        units = choice(relu, 64)
        model mlp {
            Input(shape=[4])
            Dense(units)
            Dense(3, activation=softmax)
        }
        """) + TRAIN
    path = write(tmp_path, text)
    result = check(str(path))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors and not errors[0].split(": error: ", 1)[1].startswith("at "), result.stderr
    line, col = line_col(text, "units)")  # where the compiler reports a bad constant: its use
    assert errors[0].startswith(f"{path}:{line}:{col}: error: Dense: argument 'units'"), result.stderr


def test_a_lint_found_at_a_point_is_a_warning_once_at_the_dimension(tmp_path):
    text = spec("""
        model mlp {
            Input(shape=[4])
            Dense(8, activation=relu)
            Dense(3, activation=softmax)
        }
        train {
            loss = categorical_crossentropy
            optimizer = adam(learning_rate=log_range(1e-4, 10.0))
        }
        """)
    path = write(tmp_path, text)
    result = check(str(path))
    assert result.exit_code == 0, result.output
    line, col = line_col(text, "log_range(1e-4, 10.0)")
    warnings = [line_ for line_ in result.stderr.splitlines() if ": warning: " in line_]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(f"{path}:{line}:{col}: warning: at train.optimizer.learning_rate = ")
    assert warnings[0].endswith("[learning-rate]")
    assert check("--strict", str(path)).exit_code == 1
    assert check("--ignore", "learning-rate", "--strict", str(path)).exit_code == 0


def test_json_gives_the_space_and_the_base_points_ir(tmp_path):
    path = write(tmp_path, DEEP_POOLS.replace("int_range(1, 8)", "int_range(1, 4)"))
    result = check("--json", str(path))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["space"]["size"] == 4
    assert [d["name"] for d in document["space"]["dimensions"]] == ["model.repeat[0].count"]
    assert document["space"]["points_checked"] >= 2
    kinds = [layer["kind"] for layer in document["base"]["layers"]]
    assert kinds.count("Conv2D") == 1  # the base point: depth 1


def test_a_malformed_dimension_is_an_error_with_a_caret_before_any_point_is_compiled(tmp_path):
    text = spec("""
        model mlp {
            Input(shape=[4])
            Dense(int_range(8, 4), activation=relu)
            Dense(3, activation=softmax)
        }
        """) + TRAIN
    path = write(tmp_path, text)
    result = check(str(path))
    assert result.exit_code == 2, result.output
    line, col = line_col(text, "4), activation")  # the bound that is wrong
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{col}: error: int_range: low 8 is greater than high 4"), result.stderr
    assert result.stderr.strip().endswith(f"{path}: 1 error")
    assert "search space:" not in result.stdout


def test_a_warning_moved_onto_a_dimension_is_silenced_by_a_comment_on_the_dimensions_line(tmp_path):
    text = spec("""
        rate = log_range(1e-4, 10.0)
        model mlp {
            Input(shape=[4])
            Dense(8, activation=relu)
            Dense(3, activation=softmax)
        }
        train {
            loss = categorical_crossentropy
            optimizer = adam(learning_rate=rate)
        }
        """)
    path = write(tmp_path, text)
    warned = check("--strict", str(path))
    assert warned.exit_code == 1
    line, col = line_col(text, "log_range")
    assert f"{path}:{line}:{col}: warning: at rate = 10.0: learning rate 10 is unusually large" in warned.stderr
    path.write_text(text.replace("log_range(1e-4, 10.0)", "log_range(1e-4, 10.0)  # nnspec: ignore[learning-rate]"))
    silenced = check("--strict", str(path))
    assert silenced.exit_code == 0, silenced.output
    assert "warning" not in silenced.stderr


def test_a_warning_of_every_point_is_not_blamed_on_a_dimension_when_the_base_point_fails():
    """The base point's errors hide its warnings; a warning found at every other point (unscaled digits) is
    reported where the compiler found it, not as caused by the dimension that differs."""
    text = spec("""
        model m {
            Input([64])
            repeat int_range(-1, 2) {
                Dense(8)
            }
            Dense(10)
        }

        train {
            loss = sparse_categorical_crossentropy(from_logits=true)
            optimizer = adam
            data = digits
        }
        """)
    found = check_space(space_of(text, "s.nns"), samples=4)
    assert [d.span.line for d in found.errors] == [3]  # repeat -1 at the base point
    [warning] = found.warnings
    assert warning.code == "unscaled-inputs" and warning.span.line == 2
    assert not warning.message.startswith("at ")
