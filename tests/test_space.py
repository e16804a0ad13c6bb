"""Search spaces in the spec (compiler.space): every kind of dimension, paths, named and conditional
dimensions, suggest (define-by-run, in a fixed order), points (active, validate, concrete text that compiles),
size, grid, extremes, seeded samples, fingerprints and their differences."""

from __future__ import annotations

import json
import textwrap

import pytest

from compiler.pipeline import compile_text
from compiler.space import DIMENSION_FUNCTIONS, ParamsError, SearchSpace, load_space, space_of
from compiler.space.refusal import first_dimension
from search_cases import DIGITS_TRAIN as TRAIN, HighTrial
from spec_lang.parser import parse


def spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# A space with one of every kind of dimension.
EVERY_KIND = spec("""
block conv_block(filters) {
    Conv2D(filters, choice(3, 5), padding=same, activation=relu)
}

model kinds {
    Input([8, 8, 1])
    Conv2D(int_range(8, 32, step=8), 3, padding=same, kernel_initializer=choice(he_normal, glorot_uniform))
    choice(Conv2D(16, 3, padding=same), conv_block(16))
    optional(BatchNormalization())
    conv_block(8)
    conv_block(8)
    Flatten()
    repeat int_range(1, 3) {
        Dense(int_range(16, 256, log=true), activation=relu, kernel_regularizer=choice(l2(1e-4), l2(1e-3), none))
        Dropout(float_range(0.0, 0.5, step=0.1))
    }
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam(learning_rate=log_range(1e-4, 1e-2)), sgd(learning_rate=0.01, momentum=float_range(0.0, 0.9)))
    batch_size = choice(16, 32, 64)
    epochs = 1
    metrics = [accuracy]
    data = shapes(size=8)
}
""")


class FakeTrial:
    """Optuna's suggest_* signatures; answers from ``answers`` (else the first option / low bound) and
    records what was asked, in order."""

    def __init__(self, answers: dict | None = None):
        self.answers = answers or {}
        self.asked: list[tuple] = []

    def suggest_categorical(self, name, choices):
        self.asked.append(("categorical", name, tuple(choices)))
        return self.answers.get(name, choices[0])

    def suggest_int(self, name, low, high, step=1, log=False):
        self.asked.append(("int", name, low, high, step, log))
        return self.answers.get(name, low)

    def suggest_float(self, name, low, high, step=None, log=False):
        self.asked.append(("float", name, low, high, step, log))
        return self.answers.get(name, low)


def dims(space: SearchSpace) -> dict:
    return {d.name: d for d in space.dimensions}


def compiled_layers(text: str) -> list:
    return list(compile_text(text).spec.layers)


# ---- every kind of dimension ---------------------------------------------------------------------------------
def test_every_kind_of_dimension_is_found_with_its_values():
    d = dims(space_of(EVERY_KIND))
    assert d["model.conv2d.filters"].kind == "int"
    assert (d["model.conv2d.filters"].low, d["model.conv2d.filters"].high, d["model.conv2d.filters"].step) == (8, 32, 8)
    assert d["model.conv2d.kernel_initializer"].options == ("he_normal", "glorot_uniform")  # names
    assert d["model.choice[0]"].options == ("Conv2D", "conv_block")  # a layer-kind / block choice
    assert d["model.optional[0]"].kind == "optional" and d["model.optional[0]"].options == (True, False)
    assert d["model.repeat[0].count"].kind == "int" and (d["model.repeat[0].count"].low, d["model.repeat[0].count"].high) == (1, 3)
    units = d["model.repeat[0].dense.units"]
    assert (units.kind, units.low, units.high, units.log) == ("int", 16, 256, True)
    # calls sharing a function are labelled by their canonical text; a name by itself
    assert d["model.repeat[0].dense.kernel_regularizer"].options == ("l2(1e-4)", "l2(1e-3)", "none")
    rate = d["model.repeat[0].dropout.rate"]
    assert (rate.kind, rate.low, rate.high, rate.step, rate.log) == ("float", 0.0, 0.5, 0.1, False)
    assert d["train.optimizer"].options == ("adam", "sgd")
    lr = d["train.optimizer.adam.learning_rate"]
    assert (lr.kind, lr.low, lr.high, lr.step, lr.log) == ("float", 1e-4, 1e-2, None, True)
    assert d["train.batch_size"].options == (16, 32, 64)  # numbers stay numbers


def test_choice_of_lists_and_strings_has_their_texts_as_labels():
    space = space_of(spec("""
        model m {
            Input([8, 8, 1])
            Conv2D(8, kernel_size=choice([3, 3], [5, 1]), padding=choice("same", "valid"))
            Flatten()
            Dense(2)
        }
    """) + TRAIN)
    d = dims(space)
    assert d["model.conv2d.kernel_size"].options == ("[3, 3]", "[5, 1]")
    assert d["model.conv2d.padding"].options == ("same", "valid")
    text = space.concrete_text({"model.conv2d.kernel_size": "[5, 1]", "model.conv2d.padding": "valid"})
    conv = compiled_layers(text)[1]
    assert conv.kernel_size == (5, 1) and conv.padding == "valid"


def test_a_plain_spec_is_an_empty_space():
    space = load_space("specs/digits_mlp.nns")
    assert not space and space.dimensions == () and space.size() == 1
    assert set(DIMENSION_FUNCTIONS) == {"choice", "int_range", "float_range", "log_range", "optional"}


# ---- paths ----------------------------------------------------------------------------------------------------
PATHS = spec("""
block conv_block(filters) {
    Conv2D(filters, kernel_size=choice(3, 5))
}

model paths {
    Input([8, 8, 1])
    conv_block(8)
    conv_block(16)
    optional(Dropout(0.2))
    repeat int_range(1, 3) {
        Conv2D(8, 3, padding=same)
    }
    Flatten()
    repeat 1 {
        Dense(choice(8, 16))
        Dense(choice(32, 64), name="wide")
        Dense(choice(4, 6))
    }
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam, sgd(momentum=float_range(0.0, 0.9)))
    batch_size = choice(16, 32)
    data = shapes(size=8)
}
""")


def test_paths_follow_the_naming_rules():
    names = [d.name for d in space_of(PATHS).dimensions]
    assert names == [
        "model.conv_block.conv2d.kernel_size",  # a block call: into the block's body, per call
        "model.conv_block_1.conv2d.kernel_size",
        "model.optional[0]",
        "model.repeat[0].count",
        "model.repeat[1].dense.units",  # two Dense layers of one body never share a path
        "model.repeat[1].wide.units",  # an explicit name= is the layer's segment
        "model.repeat[1].dense_1.units",
        "train.optimizer",
        "train.optimizer.sgd.momentum",  # inside a choice option: the option's label
        "train.batch_size",
    ]


def test_a_block_called_twice_has_two_sets_of_dimensions_and_each_use_gets_its_own_values():
    space = space_of(PATHS)
    point = {d.name: d.options[0] if d.options else d.low for d in space.active({
        "train.optimizer": "adam", "model.optional[0]": True})}
    point.update({"model.conv_block.conv2d.kernel_size": 3, "model.conv_block_1.conv2d.kernel_size": 5,
                  "train.optimizer": "adam"})
    point = {k: v for k, v in point.items() if k != "train.optimizer.sgd.momentum"}
    text = space.concrete_text(point)
    convs = [layer for layer in compiled_layers(text) if layer.kind == "Conv2D"]
    assert [c.kernel_size for c in convs[:2]] == [(3, 3), (5, 5)]
    assert "block conv_block(filters)" in text and "block conv_block_2(filters)" in text
    same = space.concrete_text({**point, "model.conv_block_1.conv2d.kernel_size": 3})
    assert "conv_block_2" not in same  # uses with the same values share one definition


# ---- conditional and named dimensions ---------------------------------------------------------------------------
CONDITIONAL = spec("""
model m {
    Input([64])
    Dense(32, activation=relu)
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(
        adam(learning_rate=log_range(1e-4, 1e-2)),
        sgd(learning_rate=log_range(1e-3, 1e-1), momentum=float_range(0.0, 0.99)),
    )
    batch_size = choice(16, 32)
    epochs = 1
    data = digits
}
""")


def test_momentum_is_suggested_only_under_sgd():
    space = space_of(CONDITIONAL)
    trial = FakeTrial({"train.optimizer": "adam"})
    point = space.suggest(trial)
    asked = [a[1] for a in trial.asked]
    assert asked == ["train.optimizer", "train.optimizer.adam.learning_rate", "train.batch_size"]
    assert trial.asked[1] == ("float", "train.optimizer.adam.learning_rate", 1e-4, 1e-2, None, True)
    assert set(point) == set(asked)

    trial = FakeTrial({"train.optimizer": "sgd", "train.optimizer.sgd.momentum": 0.5})
    point = space.suggest(trial)
    assert [a[1] for a in trial.asked] == ["train.optimizer", "train.optimizer.sgd.learning_rate",
                                           "train.optimizer.sgd.momentum", "train.batch_size"]
    assert [d.name for d in space.active(point)] == [a[1] for a in trial.asked]
    assert "momentum=0.5" in space.concrete_text(point)
    assert dims(space)["train.optimizer.sgd.momentum"].conditions == (("train.optimizer", "sgd"),)


def test_suggest_asks_in_the_same_order_every_time():
    space = space_of(EVERY_KIND)
    first, second = FakeTrial(), FakeTrial()
    space.suggest(first)
    space_of(EVERY_KIND).suggest(second)
    assert first.asked == second.asked
    assert [a[1] for a in first.asked] == [d.name for d in space.active(space.suggest(FakeTrial()))]


NAMED = spec("""
units = choice(32, 64, 128)
momentum = float_range(0.0, 0.9)

model m {
    Input([64])
    Dense(units, activation=relu)
    Dense(units, activation=relu)
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam, sgd(momentum=momentum), rmsprop(momentum=momentum))
    data = digits
}
""")


def test_a_named_dimension_is_one_dimension_for_all_its_uses():
    space = space_of(NAMED)
    d = dims(space)
    assert list(d) == ["units", "train.optimizer", "momentum"]  # the parent comes before its conditional child
    assert d["units"].named and d["units"].conditions == ()
    # used under two options: it exists under either
    assert d["momentum"].conditions == (("train.optimizer", "sgd"), ("train.optimizer", "rmsprop"))
    text = space.concrete_text({"units": 64, "train.optimizer": "rmsprop", "momentum": 0.25})
    assert "units = 64\n" in text and "momentum = 0.25\n" in text
    dense = [layer for layer in compiled_layers(text) if layer.kind == "Dense"]
    assert [layer.units for layer in dense] == [64, 64, 10]
    adam = space.concrete_text({"units": 32, "train.optimizer": "adam"})
    assert "momentum" not in adam  # a named dimension the point does not use is left out
    compile_text(adam)


def test_a_named_dimension_used_unconditionally_anywhere_is_unconditional():
    space = space_of(NAMED.replace("Dense(10)", "Dense(10)\n    Dropout(momentum)"))
    assert dims(space)["momentum"].conditions == ()


# ---- points -----------------------------------------------------------------------------------------------------
def test_concrete_text_compiles_and_holds_no_dimension_at_every_extreme_and_sample():
    space = space_of(EVERY_KIND)
    points = space.extremes() + space.sample(8, seed=1)
    for point in points:
        text = space.concrete_text(point)
        assert first_dimension(parse(text)) is None
        compile_text(text)


def test_a_variable_depth_repeat_builds_only_the_chosen_depth():
    space = space_of(EVERY_KIND)
    base = space.extremes()[0]
    for depth in (1, 2, 3):
        layers = compiled_layers(space.concrete_text({**base, "model.repeat[0].count": depth}))
        assert sum(layer.kind == "Dense" for layer in layers) == depth + 1  # the repeated ones and the head
        assert sum(layer.kind == "Dropout" for layer in layers) == depth


def test_an_optional_layer_is_there_or_not():
    space = space_of(EVERY_KIND)
    base = space.extremes()[0]
    present = compiled_layers(space.concrete_text({**base, "model.optional[0]": True}))
    absent = compiled_layers(space.concrete_text({**base, "model.optional[0]": False}))
    assert sum(layer.kind == "BatchNormalization" for layer in present) == 1
    assert sum(layer.kind == "BatchNormalization" for layer in absent) == 0
    assert len(present) == len(absent) + 1


def test_a_layer_choice_builds_the_chosen_layer_or_block():
    space = space_of(EVERY_KIND)
    base = space.extremes()[0]
    as_layer = compiled_layers(space.concrete_text({**base, "model.choice[0]": "Conv2D"}))
    as_block = compiled_layers(space.concrete_text({**base, "model.choice[0]": "conv_block",
                                                    "model.choice[0].conv_block.conv2d.kernel_size": 5}))
    assert as_layer[2].kind == as_block[2].kind == "Conv2D"
    assert as_layer[2].kernel_size == (3, 3) and as_block[2].kernel_size == (5, 5)


def test_concrete_text_is_formatted_with_the_comment_on_top_and_the_seed_written_in():
    space = space_of("# my space\n" + CONDITIONAL)
    point = {"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001, "train.batch_size": 32}
    text = space.concrete_text(point, comment="study s, trial 7\nvalue 0.97")
    assert text.startswith("# study s, trial 7\n# value 0.97\n\n# my space\n")
    assert "    optimizer = adam(learning_rate=0.001)\n" in text and "    seed = 0\n" in text
    from spec_lang.formatter import format_source
    assert format_source(text) == text
    seeded = space_of(CONDITIONAL.replace("epochs = 1", "epochs = 1\n    seed = 42")).concrete_text(point)
    assert "seed = 42" in seeded and "seed = 0" not in seeded


def test_comments_of_kept_lines_survive():
    space = space_of(spec("""
        model m {
            Input([64])  # pixels
            Dense(choice(32, 64), activation=relu)  # hidden
            Dense(10)  # logits
        }
    """) + TRAIN)
    text = space.concrete_text({"model.dense.units": 64})
    assert "Input([64])  # pixels" in text and "Dense(64, activation=relu)  # hidden" in text
    assert "Dense(10)  # logits" in text


def test_concrete_module_keeps_the_spans_of_the_spec():
    space = space_of(CONDITIONAL, "space.nns")
    module = space.concrete_module({"train.optimizer": "sgd", "train.optimizer.sgd.learning_rate": 0.01,
                                    "train.optimizer.sgd.momentum": 0.9, "train.batch_size": 16})
    train = module.statements[1]
    optimizer = next(s for s in train.settings if s.name == "optimizer").value
    momentum = next(a for a in optimizer.args if a.name == "momentum").value
    written = space.dimension("train.optimizer.sgd.momentum").span
    assert momentum.value == 0.9 and momentum.span == written
    assert optimizer.func == "sgd" and optimizer.span.line == 11 and optimizer.span.path == "space.nns"
    assert module.statements[0] == space.module.statements[0]  # the model is untouched


@pytest.mark.parametrize("point, message", [
    ({"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001}, "missing dimension 'train.batch_size'"),
    ({"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001, "train.batch_size": 32,
      "train.batch_sise": 3}, "unknown dimension 'train.batch_sise'; did you mean 'train.batch_size'?"),
    ({"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001, "train.batch_size": 32,
      "train.optimizer.sgd.momentum": 0.5}, "dimension 'train.optimizer.sgd.momentum' does not exist at this point: "
                                            "it exists only when train.optimizer is sgd"),
    ({"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.5, "train.batch_size": 32},
     "dimension 'train.optimizer.adam.learning_rate': expected a number in [0.0001, 0.01], log scale, received 0.5"),
    ({"train.optimizer": "adamw", "train.batch_size": 32}, "dimension 'train.optimizer': expected one of adam, sgd"),
    ({"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 0.001, "train.batch_size": True},
     "dimension 'train.batch_size': expected one of 16, 32, received True"),
])
def test_validate_names_the_dimension(point, message):
    space = space_of(CONDITIONAL)
    with pytest.raises(ParamsError) as info:
        space.validate(point)
    assert message in str(info.value)
    with pytest.raises(ParamsError):
        space.concrete_text(point)


def test_validate_checks_int_steps_and_float_steps():
    space = space_of(EVERY_KIND)
    base = space.extremes()[0]
    space.validate({**base, "model.conv2d.filters": 24, "model.repeat[0].dropout.rate": 0.30000000000000004})
    for name, value in [("model.conv2d.filters", 12), ("model.conv2d.filters", 40), ("model.conv2d.filters", 16.5),
                        ("model.repeat[0].dropout.rate", 0.25), ("model.repeat[0].count", 0)]:
        with pytest.raises(ParamsError, match=name.replace("[", r"\[").replace("]", r"\]")):
            space.validate({**base, name: value})


# ---- the space as a whole ---------------------------------------------------------------------------------------
SIZED = spec("""
model m {
    Input([64])
    repeat int_range(1, 4) {
        Dense(choice(32, 64), activation=relu)
    }
    optional(Dropout(0.5))
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam(learning_rate=choice(1e-3, 1e-2)), sgd(learning_rate=choice(1e-3, 1e-2, 1e-1), momentum=choice(0.0, 0.9)))
    batch_size = choice(16, 32)
    data = digits
}
""")


def test_size_counts_conditional_dimensions_only_where_they_exist():
    space = space_of(SIZED)
    # depth 4 x units 2 x optional 2 x (adam: 2 learning rates + sgd: 3 x 2) x batch 2
    assert space.size() == 4 * 2 * 2 * (2 + 3 * 2) * 2
    assert space.size() == len(_enumerate(space))
    assert space_of(CONDITIONAL).size() is None  # a continuous float range


def test_size_of_a_named_dimension_under_two_options():
    space = space_of(NAMED.replace("float_range(0.0, 0.9)", "float_range(0.0, 0.9, step=0.3)"))
    assert space.size() == 3 * (1 + 4 + 4)
    assert space.size() == len(_enumerate(space))


def _enumerate(space: SearchSpace) -> set:
    """Every point, by brute force over the grid (for checking size)."""
    import itertools

    grid = space.grid()
    names = list(grid)
    points = set()
    for values in itertools.product(*(grid[n] for n in names)):
        full = dict(zip(names, values))
        active = {d.name for d in space.active(full)}
        points.add(tuple(sorted((k, repr(v)) for k, v in full.items() if k in active)))
    return points


def test_grid_lists_every_value_and_refuses_a_continuous_dimension():
    grid = space_of(EVERY_KIND.replace("float_range(0.0, 0.9)", "float_range(0.0, 0.9, step=0.3)")
                    .replace("log_range(1e-4, 1e-2)", "choice(1e-4, 1e-2)")).grid()
    assert grid["model.conv2d.filters"] == [8, 16, 24, 32]
    assert grid["model.repeat[0].dropout.rate"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert grid["train.optimizer.sgd.momentum"] == [0.0, 0.3, 0.6, 0.9]
    assert grid["model.optional[0]"] == [True, False]
    assert grid["model.repeat[0].dense.units"] == list(range(16, 257))
    with pytest.raises(ParamsError, match="train.optimizer.adam.learning_rate"):
        space_of(EVERY_KIND).grid()


def test_extremes_start_at_the_base_point_and_reach_every_extreme():
    space = space_of(CONDITIONAL)
    points = space.extremes()
    assert points[0] == {"train.optimizer": "adam", "train.optimizer.adam.learning_rate": 1e-4,
                         "train.batch_size": 16}
    for d in space.dimensions:
        wanted = d.options if d.options else (d.low, d.high)
        for value in wanted:
            assert any(p.get(d.name) == value for p in points), (d.name, value)
    high_momentum = next(p for p in points if p.get("train.optimizer.sgd.momentum") == 0.99)
    assert high_momentum["train.optimizer"] == "sgd"  # a conditional dimension's parent is set so it exists
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)
    for p in points:
        space.validate(p)


def test_samples_are_reproducible_valid_and_in_range():
    space = space_of(EVERY_KIND)
    first, again, other = space.sample(30, seed=3), space.sample(30, seed=3), space.sample(30, seed=4)
    assert first == again and first != other
    for p in first:
        space.validate(p)
    rates = {p["train.optimizer.adam.learning_rate"] for p in first if p["train.optimizer"] == "adam"}
    assert rates and all(1e-4 <= r <= 1e-2 for r in rates)
    assert {p["model.repeat[0].count"] for p in first} == {1, 2, 3}
    assert all(isinstance(p["model.repeat[0].dense.units"], int) for p in first)


# ---- fingerprint ------------------------------------------------------------------------------------------------
def test_fingerprint_is_json_and_the_same_for_the_same_space():
    a = space_of(CONDITIONAL).fingerprint()
    assert json.loads(json.dumps(a)) == a
    assert SearchSpace.differences(a, json.loads(json.dumps(space_of("# a comment\n" + CONDITIONAL).fingerprint()))) == []


@pytest.mark.parametrize("change, expected", [
    (("log_range(1e-4, 1e-2)", "log_range(1e-4, 1e-1)"), ["train.optimizer.adam.learning_rate: high 0.01 → 0.1"]),
    (("choice(16, 32)", "choice(16, 32, 64)"), ["train.batch_size: options [16, 32] → [16, 32, 64]"]),
    (("Dense(32, activation=relu)", "Dense(choice(32, 64), activation=relu)"),
     ["added dimension model.dense.units", "the spec changed outside its dimensions"]),  # 32 became a dimension
    (("batch_size = choice(16, 32)", "batch_size = 16"),
     ["removed dimension train.batch_size", "the spec changed outside its dimensions"]),
    (("epochs = 1", "epochs = 2"), ["the spec changed outside its dimensions"]),
    (("adam(learning_rate=log_range(1e-4, 1e-2))", "adam(learning_rate=log_range(1e-4, 1e-2), beta_1=0.8)"),
     ["train.optimizer: option adam: adam(learning_rate=__dimension__()) → "
      "adam(learning_rate=__dimension__(), beta_1=0.8)"]),
])
def test_differences_say_what_changed(change, expected):
    old = space_of(CONDITIONAL).fingerprint()
    new = space_of(CONDITIONAL.replace(*change)).fingerprint()
    assert SearchSpace.differences(old, new) == expected


def test_the_readmes_search_space_is_canonical_and_its_paths_are_the_ones_it_lists():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### Search spaces"):]
    text = section.split("```\n", 2)[1]
    from spec_lang.formatter import format_source
    assert format_source(text) == text
    space = space_of(text, "README.md")
    names = [d.name for d in space.dimensions]
    listed = section[section.index("The space above has"):section.index("Two dimensions that would")]
    assert [n for n in names if f"`{n}`" in listed] == names
    for point in space.extremes():
        compile_text(space.concrete_text(point))


def test_a_point_read_from_json_writes_integers_as_integers_and_floats_as_floats():
    space = space_of(EVERY_KIND)
    point = json.loads(json.dumps({**space.extremes()[0], "model.conv2d.filters": 16.0,
                                   "train.optimizer.adam.learning_rate": 0.001}))
    text = space.concrete_text({**point, "model.repeat[0].count": 2.0})
    assert "Conv2D(16, 3," in text and "repeat 2 {" in text and "learning_rate=0.001" in text
    assert "Dropout(0.0)" in text  # a float range's low bound 0 is written as a float
    compile_text(text)


def test_suggest_drives_a_real_optuna_study_reproducibly():
    """With Optuna's own trials (define-by-run, seeded random sampler) every point is valid, conditional
    dimensions appear only under their option, and the same seed gives the same points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space_of(EVERY_KIND)

    def points(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        found = []

        def objective(trial):
            point = space.suggest(trial)
            space.validate(point)
            assert point == trial.params
            found.append(point)
            return 0.0

        study.optimize(objective, n_trials=12)
        return found

    first = points(5)
    assert first == points(5)
    assert {p["train.optimizer"] for p in first} == {"adam", "sgd"}
    for p in first:
        assert ("train.optimizer.sgd.momentum" in p) == (p["train.optimizer"] == "sgd")
        assert p["model.conv2d.filters"] in (8, 16, 24, 32)
        assert round(p["model.repeat[0].dropout.rate"] * 10, 9).is_integer()


def test_a_dimension_in_a_block_parameters_default_belongs_to_each_use_that_takes_the_default():
    space = space_of(spec("""
        block hidden(units=choice(32, 64)) {
            Dense(units, activation=relu)
        }

        model m {
            Input([64])
            hidden()
            hidden(16)
            Dense(10)
        }
    """) + TRAIN)
    assert [d.name for d in space.dimensions] == ["model.hidden.units"]  # hidden(16) passes its own value
    text = space.concrete_text({"model.hidden.units": 64})
    assert [layer.units for layer in compiled_layers(text) if layer.kind == "Dense"] == [64, 16, 10]


def test_blocks_inside_blocks_are_specialised_all_the_way_down():
    space = space_of(spec("""
        block inner(f) {
            Dense(f, activation=choice(relu, tanh))
        }

        block outer(f) {
            inner(f)
            inner(f * 2)
        }

        model m {
            Input([64])
            outer(8)
            outer(16)
            Dense(10)
        }
    """) + TRAIN)
    names = [d.name for d in space.dimensions]
    assert names == ["model.outer.inner.dense.activation", "model.outer.inner_1.dense.activation",
                     "model.outer_1.inner.dense.activation", "model.outer_1.inner_1.dense.activation"]
    point = dict(zip(names, ["relu", "tanh", "tanh", "relu"]))
    dense = [layer for layer in compiled_layers(space.concrete_text(point)) if layer.kind == "Dense"]
    assert [(layer.units, layer.activation.kind) for layer in dense[:4]] == [
        (8, "relu"), (16, "tanh"), (16, "tanh"), (32, "relu")]


# ---- conditions that always hold ---------------------------------------------------------------------------------
ALWAYS = spec("""
f = float_range(1e-5, 1e-3, step=1e-5)
reg = choice(l1(f), l2(f))

model m {
    Input([4])
    Dense(8, kernel_regularizer=choice(reg, l1l2(l1=f, l2=f)))
    Dense(2, kernel_regularizer=choice(none, reg))
}
""") + TRAIN


def test_a_dimension_under_every_option_of_an_existing_choice_is_unconditional():
    cnn = dims(load_space("specs/digits_cnn_search.nns"))
    # filters is used by both blocks of the layer choice, which always exists: it always exists
    assert cnn["filters"].conditions == ()
    d = dims(space_of(ALWAYS))
    # f: under both options of reg (so wherever reg exists) and under l1l2; reg exists under option reg of
    # the first kernel_regularizer: so f is under every option of that choice, which always exists
    assert d["f"].conditions == ()
    assert set(d["reg"].conditions) == {("model.dense.kernel_regularizer", "reg"),
                                        ("model.dense_1.kernel_regularizer", "reg")}
    # when the outer choice is not covered, f takes reg's conditions (the parent's, recursively)
    partial = dims(space_of(ALWAYS.replace("choice(reg, l1l2(l1=f, l2=f))", "choice(reg, none)")
                            .replace("choice(none, reg)", "none")))
    assert partial["f"].conditions == (("model.dense.kernel_regularizer", "reg"),)


@pytest.mark.parametrize("source", ["specs/digits_cnn_search.nns", "ALWAYS"])
def test_simplified_conditions_agree_with_size_active_fingerprint_and_suggest(source):
    space = space_of(ALWAYS) if source == "ALWAYS" else load_space(source)
    if source != "ALWAYS":  # make it finite: a step on the log range is not allowed, so fix the rate
        text = space.source.text.replace("log_range(3e-4, 3e-3)", "choice(3e-4, 3e-3)")
        space = space_of(text)
    unconditional = [d.name for d in space.dimensions if not d.conditions]
    assert space.size() == len(_enumerate(space))
    for point in space.extremes() + space.sample(10, seed=3):
        active = {d.name for d in space.active(point)}
        assert set(unconditional) <= active  # an unconditional dimension exists at every point
        space.validate(point)
    entries = {e["name"]: e for e in space.fingerprint()["dimensions"]}
    assert all(entries[name]["conditions"] == [] for name in unconditional)

    # every dimension that always exists is asked for, whatever the first option chosen
    assert set(unconditional) <= set(space.suggest(HighTrial()))
