"""The unscaled-inputs lint: raw features far from unit scale warn at check time (bundled and generated data,
from statistics known without loading anything) and at train time (a user's file, --data), naming
Normalization and Rescaling; a model that scales its inputs is silent; diagnose says the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.data import generate, load_dataset
from tools.diagnose import diagnose
from backends.numpy.trainer import NumpyTrainer
from cli import app
from cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from compiler.ir.training import BUILTIN_DATASETS, BlobsData, RegressionData, SpiralsData
from compiler.passes.input_scale import BUILTIN_SCALES, FeatureScale, expected_scale
from compiler.pipeline import compile_text

runner = CliRunner()


def spec_text(data: str, first: str = "", input_shape: str | None = None, loss: str = "mse") -> str:
    features = {"digits": 64, "iris": 4, "wine": 13, "breast_cancer": 30}.get(data.split("(")[0], 2)
    shape = input_shape or f"[{features}]"
    flatten = "Flatten()" if input_shape else ""
    layers = "\n".join(f"    {layer}" for layer in (f"Input({shape})", first, flatten, "Dense(8, activation=relu)",
                                                       "Dense(1)"))
    return f"model m {{\n{layers}\n}}\ntrain {{ loss = {loss} optimizer = adam data = {data} }}\n"


def unscaled(text: str):
    return [w for w in compile_text(text).warnings if w.code == "unscaled-inputs"]


@pytest.mark.parametrize("data, first, warns", [
    ("breast_cancer", "", True),
    ("wine", "", True),
    ("digits", "", True),  # pixels 0..16: means up to 12
    ("iris", "", False),  # means up to 5.8 cm, deviations 0.43 to 1.76: within the rule
    ("spirals", "", False),
    ("regression", "", False),
    ("blobs", "", False),  # centres in [-10, 10]: deviations about 5
    ("blobs(noise=20)", "", True),
    ("digits", "Rescaling(1 / 16)", False),
    ("breast_cancer", "Normalization()", False),
    ("breast_cancer", "BatchNormalization()", False),
    ("wine", "Activation(tanh)", True),  # not a scaling layer
])
def test_check_time_lint_on_bundled_and_generated_data(data, first, warns):
    found = unscaled(spec_text(data, first))
    assert bool(found) == warns, found
    if warns:
        (w,) = found
        assert w.span.line == 2 and "far from unit scale" in w.message
        assert "Normalization()" in w.hint and "Rescaling" in w.hint


def test_image_inputs_are_judged_per_channel():
    """digits as 64 features: pixel means up to 12 warn; as one-channel 8x8 images the channel's mean 4.9 and
    deviation 6.0 do not (the scale of a channel, as Normalization's default axis sees it)."""
    assert unscaled(spec_text("digits"))
    assert not unscaled(spec_text("digits", input_shape="[8, 8, 1]"))


@pytest.mark.parametrize("name", sorted(BUILTIN_DATASETS))
def test_the_bundled_statistics_are_those_of_the_data(name):
    from sklearn import datasets

    x = getattr(datasets, f"load_{name}")().data
    features, pooled = BUILTIN_SCALES[name]
    for table, measured in ((features, FeatureScale.of(x)), (pooled, FeatureScale.of(x.reshape(-1, 1)))):
        np.testing.assert_allclose([table.max_abs_mean, table.max_std, table.min_std],
                                   [measured.max_abs_mean, measured.max_std, measured.min_std], rtol=1e-9)


@pytest.mark.parametrize("data", [SpiralsData(n_samples=20000, noise=0.3), RegressionData(n_samples=20000),
                                  BlobsData(n_samples=20000, classes=4, noise=2.0)])
def test_the_generated_statistics_follow_the_generators(data):
    """The expected deviation is the measured one (blobs: on average over seeds, its centres being random)."""
    spec = compile_text(f"model m {{ Input([{data.features}]) Dense(1) }} train {{ loss = mse optimizer = adam "
                        f"data = {data.kind}(n_samples={data.n_samples}, noise={data.noise}) }}").spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"data": data})})
    expected = expected_scale(spec)
    seeds = range(40) if isinstance(data, BlobsData) else range(1)
    measured = np.mean([FeatureScale.of(generate(data, seed)[0][:, :1]).max_std for seed in seeds])
    assert measured == pytest.approx(expected.max_std, rel=0.1)


def test_the_rule():
    assert FeatureScale(0.0, 1.0, 1.0).problem() is None
    assert "standard deviations up to 11" in FeatureScale(0.0, 11.0, 11.0).problem()
    assert "means up to 12" in FeatureScale(12.0, 1.0, 1.0).problem()
    assert "101x apart" in FeatureScale(0.0, 1.01, 0.01).problem()
    assert FeatureScale(0.0, 1.0, 0.0).problem() is None  # constant features do not count in the spread


# ---- train time: the user's file, and --data ------------------------------------------------------------------
@pytest.fixture(scope="module")
def bc_file(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    path = tmp_path_factory.mktemp("data") / "bc.npz"
    np.savez(path, x=data.data, y=data.target)
    return path


@pytest.mark.parametrize("first, warns", [("", True), ("Normalization()", False), ("Rescaling(0.001)", False)])
@pytest.mark.parametrize("how", ["spec", "--data"])
def test_train_warns_on_an_unscaled_file(first, warns, how, bc_file, tmp_path):
    data = f'"{bc_file}"' if how == "spec" else "spirals"
    spec = tmp_path / "m.nns"
    spec.write_text(spec_text(data, first, input_shape=None).replace("Input([2])", "Input([30])")
                    .replace("loss = mse", "loss = binary_crossentropy(from_logits=true) epochs = 1"))
    extra = ["--data", str(bc_file)] if how == "--data" else []
    result = runner.invoke(app, ["train", str(spec), "-q", "--out", str(tmp_path / "run"), *extra])
    assert result.exit_code == EXIT_OK, result.output
    assert ("[unscaled-inputs]" in result.output) == warns, result.output
    if warns:
        assert "Normalization()" in result.output and f"{spec}:2:5: warning" in result.output


def test_check_strict_fails_on_unscaled_inputs(tmp_path):
    spec = tmp_path / "m.nns"
    spec.write_text(spec_text("breast_cancer"))
    assert runner.invoke(app, ["check", "--strict", str(spec)]).exit_code == EXIT_FINDINGS
    spec.write_text(spec_text("breast_cancer", "Normalization()"))
    assert runner.invoke(app, ["check", "--strict", str(spec)]).exit_code == EXIT_OK


# ---- diagnose ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first, flagged", [("", True), ("Normalization()", False)])
def test_diagnose_flags_unscaled_inputs_with_their_variance(first, flagged):
    spec = compile_text(spec_text("breast_cancer", first)).spec
    data = load_dataset(spec, dtype=np.float64)
    result = diagnose(NumpyTrainer(spec, dtype=np.float64), spec, data.x_train, data.y_train, batches=1)
    flags = [f for f in result.flags if f.startswith("unscaled inputs")]
    assert bool(flags) == flagged, result.flags
    if flagged:
        assert f"variance is {np.var(data.x_train):.3g}" in flags[0]
        assert any("Normalization()" in s for s in result.suggestions)


def test_check_lints_without_loading_data_or_numerical_libraries(tmp_path):
    spec = tmp_path / "bc.nns"
    spec.write_text(spec_text("breast_cancer"))
    code = ("import sys; from typer.testing import CliRunner; from cli import app; "
            f"r = CliRunner().invoke(app, ['check', {str(spec)!r}]); assert 'unscaled-inputs' in r.output, r.output; "
            "print(sorted(m for m in ('numpy', 'torch', 'tensorflow', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
