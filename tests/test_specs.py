"""The example specs in specs/: each compiles, matches its golden IR and summary, and round-trips.

Goldens live in tests/golden/<name>.ir.json and tests/golden/<name>.summary.txt. After an
intended change to the compiler or a spec, regenerate them and review the diff:

    NNSPEC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_specs.py

Specs are compiled from the repository root with relative paths, so every span in the IR reads
``specs/<name>.nns`` whatever the working directory of the test run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import typing
from pathlib import Path

import numpy as np
import pytest

from compiler.ir import training as ir_training
from compiler.ir.spec import Spec
from compiler.ir.training import OPTIMIZER_CLASSES, SCHEDULE_CLASSES
from compiler.ir.values import INITIALIZER_KINDS, REGULARIZER_KINDS, ActivationKind
from compiler.ir.layers import LAYER_CLASSES
from compiler.pipeline import CompileResult, compile_file
from example_specs import CONCRETE, SEARCH
from compiler.summary import render_summary
from compiler.weights import weight_specs

REPO_ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = REPO_ROOT / "specs"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("NNSPEC_UPDATE_GOLDEN", "") not in ("", "0")

SPEC_NAMES = sorted(p.stem for p in CONCRETE)

# The lint warnings each spec is meant to show (by code); every other spec must compile clean.
EXPECTED_WARNINGS = {
    "deep_tanh_mlp": {"saturating-depth"},  # 10 stacked tanh layers, on purpose
    "seed_cnn": {"bias-before-batchnorm"},  # the seed's Conv2D keeps its bias before BatchNormalization
}


@functools.cache
def compiled(name: str) -> CompileResult:
    """Compile specs/<name>.nns from the repository root (relative spans), once per test session."""
    with contextlib.chdir(REPO_ROOT):
        return compile_file(f"specs/{name}.nns")


def ir_json(name: str) -> str:
    return compiled(name).spec.model_dump_json(indent=2) + "\n"


def check_golden(path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file, or rewrite it when NNSPEC_UPDATE_GOLDEN=1."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != actual:
            path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path.relative_to(REPO_ROOT)}; "
                    f"generate it with NNSPEC_UPDATE_GOLDEN=1 pytest tests/test_specs.py")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (f"{path.relative_to(REPO_ROOT)} differs; if the change is intended, "
                                f"regenerate with NNSPEC_UPDATE_GOLDEN=1 and review the diff")


def test_specs_exist():
    assert len(SPEC_NAMES) >= 10, SPEC_NAMES


# ---- per spec: compile, warnings, goldens, round trip ---------------------------------
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_compiles_with_expected_warnings(name):
    result = compiled(name)
    codes = {w.code for w in result.warnings}
    rendered = "\n".join(w.render(result.source) for w in result.warnings)
    assert codes == EXPECTED_WARNINGS.get(name, set()), rendered
    assert all(w.span is None or w.span.path == f"specs/{name}.nns" for w in result.warnings)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_ir_golden(name):
    actual = ir_json(name)
    assert str(REPO_ROOT) not in actual, "the IR must hold relative paths only"
    check_golden(GOLDEN_DIR / f"{name}.ir.json", actual)


def _summary_of(name: str) -> str:
    text = render_summary(compiled(name).spec)
    return text if text.endswith("\n") else text + "\n"


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_summary_golden(name):
    check_golden(GOLDEN_DIR / f"{name}.summary.txt", _summary_of(name))


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_ir_round_trips(name):
    spec = compiled(name).spec
    dumped = spec.model_dump_json(indent=2)
    again = Spec.model_validate_json(dumped)
    assert again == spec
    assert again.model_dump_json(indent=2) == dumped
    assert Spec.model_validate_json(spec.model_dump_json()) == spec  # compact form too


def test_no_orphan_goldens():
    """Every golden file belongs to a spec (a renamed or deleted spec leaves none behind)."""
    orphans = []
    for path in sorted(GOLDEN_DIR.glob("*")):
        stem = path.name.split(".")[0]
        if path.name.endswith((".ir.json", ".summary.txt")) and stem not in SPEC_NAMES:
            orphans.append(path.name)
    if orphans and UPDATE:
        for name in orphans:
            (GOLDEN_DIR / name).unlink()
        return
    assert not orphans, f"golden files without a spec: {orphans} (NNSPEC_UPDATE_GOLDEN=1 removes them)"


# ---- coverage: between them the specs use every kind the language has -------------------
def _walk(node, key=None):
    """Every dict in a dumped IR tree with the key it stands under (lists pass their key down)."""
    if isinstance(node, dict):
        yield key, node
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item, key)


@functools.cache
def used_kinds() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {k: set() for k in (
        "layer", "activation", "initializer", "regularizer", "regularizer_slot", "loss", "optimizer", "schedule",
        "clip", "data")}
    for name in SPEC_NAMES:
        tree = compiled(name).spec.model_dump()
        for key, node in _walk(tree):
            kind = node.get("kind")
            if key == "layers":
                used["layer"].add(kind)
            elif key == "activation":
                used["activation"].add(kind)
            elif key is not None and key.endswith("_initializer"):
                # init=auto is resolved by the compiler to a VarianceScaling marked auto=True
                used["initializer"].add("auto" if node.get("auto") else kind)
            elif key is not None and key.endswith("_regularizer"):
                used["regularizer"].add(kind)
                used["regularizer_slot"].add(key)
            elif key == "loss":
                used["loss"].add(kind)
            elif key == "optimizer":
                used["optimizer"].add(kind)
            elif key in ("schedule", "then"):  # a warmup nests the schedule that follows it
                used["schedule"].add(kind)
            elif key == "data":
                used["data"].add(node.get("name") or kind)
            elif key == "training":
                used["clip"].update(k for k in ("clip_norm", "clip_value") if node.get(k) is not None)
    return used


COVERAGE = {
    "layer": set(LAYER_CLASSES),
    "activation": set(typing.get_args(ActivationKind)),
    "initializer": set(INITIALIZER_KINDS),
    "regularizer": set(REGULARIZER_KINDS),
    "regularizer_slot": {"kernel_regularizer", "bias_regularizer", "activity_regularizer"},
    "loss": set(typing.get_args(ir_training.Loss.model_fields["kind"].annotation)),
    "optimizer": set(OPTIMIZER_CLASSES),
    "schedule": set(SCHEDULE_CLASSES),
    "clip": {"clip_norm", "clip_value"},
    # every bundled and synthetic data set (a user's file is not shipped with the examples)
    "data": set(ir_training.BUILTIN_DATASETS)
    | set(ir_training.SYNTHETIC_CLASSES),
}


@pytest.mark.parametrize("what", sorted(COVERAGE))
def test_specs_cover_every_kind(what):
    missing = COVERAGE[what] - used_kinds()[what]
    assert not missing, f"no spec in specs/ uses {what} kind(s): {sorted(missing)}"


# ---- every example trains ----------------------------------------------------------------
BRIEF_SAMPLES, BRIEF_BATCH, BRIEF_EPOCHS = 8, 4, 3  # 6 steps on the first 8 training samples of its own data
SLOW = {"seed_cnn": 2}  # 128x128x3 images through 128-filter convolutions: 2 samples (1 step an epoch) in NumPy


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_example_trains_briefly_on_its_own_data(name):
    """Each example, with its own data (the first 8 training samples) and train settings but batch 4 and 3 epochs,
    trains on the NumPy backend: every step's loss is finite, every trainable weight moves, the history has the
    spec's metrics (per output for several outputs) for every epoch, and the loss of the last epoch is below
    the first's (6 steps over the same 8 samples)."""
    from compiler.semantics.outputs import recorded_names
    from runtime.data import load_dataset
    from runtime.loop import fit
    from runtime.trainers import make_trainer

    spec = compiled(name).spec
    if spec.training is None or spec.training.data is None:
        pytest.skip(f"{name} names no data")
    with contextlib.chdir(REPO_ROOT):
        data = load_dataset(spec, base_dir=SPECS_DIR)
    t = spec.training.model_copy(update={"batch_size": BRIEF_BATCH, "epochs": BRIEF_EPOCHS, "early_stopping": None})
    spec = spec.model_copy(update={"training": t})
    n = SLOW.get(name, BRIEF_SAMPLES)
    x, y = data.x_train[:n], data.y_train[:n]
    trainer = make_trainer("numpy", spec, adapt_on=x)
    before = {k: np.array(v, copy=True) for k, v in trainer.get_weights().items()}  # updated in place
    history = fit(trainer, spec, x, y, x[:0], y[:0], epochs=BRIEF_EPOCHS, seed=t.seed)
    after = trainer.get_weights()
    losses = history.column("loss")
    assert len(losses) == BRIEF_EPOCHS and all(np.isfinite(losses)), history.epochs
    assert losses[-1] < losses[0], losses
    moved = [k for k in before if not np.array_equal(before[k], after[k])]
    trainable = [w.name for w in weight_specs(spec) if w.trainable]
    assert set(trainable) <= set(moved), sorted(set(trainable) - set(moved))
    names = recorded_names(spec)
    assert names or not t.metrics
    for metric in names:
        assert len(history.column(metric)) == BRIEF_EPOCHS, (metric, history.epochs[-1])


def test_the_readme_table_lists_every_example_spec():
    """README's "The example specs" table has one row for each file in specs/, and no row for a missing one."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### The example specs"):readme.index("## Command line")]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `specs/")}
    assert rows == {f"specs/{p.name}" for p in (*CONCRETE, *SEARCH)}


# ---- seed_cnn: the parameter counts keras.Model.summary() shows --------------------------
def test_seed_cnn_keras_param_counts():
    """Hand-checked against Keras' formulas (not the compiler's own code):

    Conv2D  kh·kw·cin·f + f:   conv2d    3·3·3·128 + 128   =   3,456 + 128 =   3,584
                               conv2d_1  3·3·128·128 + 128 = 147,456 + 128 = 147,584
    BatchNormalization 4·C (γ, β trainable; moving mean/variance not): 4·128 = 512, 256 + 256, twice
    Shapes: 128x128 → MaxPooling2D(3, same) → ⌈128/3⌉ = 43 → ⌈43/3⌉ = 15; Flatten 15·15·128 = 28,800
    Dense   in·units + units:  28,800·10 + 10 = 288,010
    Total      3,584 + 512 + 147,584 + 512 + 288,010 = 440,202
    Non-trainable  2 · 256 = 512;  trainable 440,202 − 512 = 439,690
    """
    spec = compiled("seed_cnn").spec
    counts = {layer.name: (layer.trainable_params, layer.non_trainable_params) for layer in spec.layers
              if layer.trainable_params or layer.non_trainable_params}
    assert counts == {
        "conv2d": (3_584, 0),
        "batch_normalization": (256, 256),
        "conv2d_1": (147_584, 0),
        "batch_normalization_1": (256, 256),
        "dense": (288_010, 0),
    }
    assert [layer.output_shape for layer in spec.layers if layer.kind in ("MaxPooling2D", "Flatten")] == [
        (43, 43, 128), (15, 15, 128), (28_800,)]
    assert spec.trainable_params + spec.non_trainable_params == 440_202
    assert spec.trainable_params == 439_690
    assert spec.non_trainable_params == 512


# ---- the example search spaces (specs/*_search.nns) ------------------------------------
@pytest.mark.parametrize("path", SEARCH, ids=lambda p: p.stem)
def test_example_search_space_checks_clean_and_is_formatted(path):
    """Every point nnspec check tries (base, extremes, samples) compiles without an error or a warning,
    and the file is in fmt's canonical form: an example space a user can search as it is."""
    from compiler.space import load_space
    from compiler.space_check import check_space
    from spec_lang.formatter import format_source

    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text
    found = check_space(load_space(path))
    assert found.space and found.base is not None
    assert [d.message for d in found.errors + found.warnings] == []


def test_there_are_example_search_spaces_for_an_mlp_and_a_cnn():
    assert {p.stem for p in SEARCH} >= {"digits_mlp_search", "digits_cnn_search"}
