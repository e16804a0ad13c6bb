"""runtime.data: bundled, file and generated data loaded, checked against the model and the loss, and split;
every DataError with a message that says what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.data import DataError, Dataset, describe_data, generate, load_dataset, resolve_data
from compiler.ir.training import BlobsData, BuiltinData, FileData, RegressionData, SpiralsData
from compiler.pipeline import compile_text

from sklearn import datasets as sklearn_datasets  # a dependency of nnspec: the bundled data sets ship with it

ROOT = Path(__file__).resolve().parents[1]


def make_spec(input_shape, output="Dense(10)", loss="sparse_categorical_crossentropy", data=None, split=0.0,
              seed=0, layers=()):
    """A small spec: Input(input_shape), optional layers, the output layer, and a train section."""
    body = "\n".join(f"    {layer}" for layer in (*layers, output))
    settings = [f"loss = {loss}", "optimizer = adam", f"seed = {seed}", f"validation_split = {split}"]
    if data is not None:
        settings.append(f"data = {data}")
    text = (f"model m {{\n    Input({list(input_shape)})\n{body}\n}}\n"
            "train {\n" + "\n".join(f"    {s}" for s in settings) + "\n}\n")
    return compile_text(text).spec


def error(spec, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(spec, **kwargs)
    return str(info.value)


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# ---- bundled sets ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, features, classes, n", [
    ("digits", 64, 10, 1797), ("iris", 4, 3, 150), ("wine", 13, 3, 178), ("breast_cancer", 30, 2, 569),
])
def test_bundled_sets_load_with_their_shapes(name, features, classes, n):
    ds = load_dataset(make_spec([features], f"Dense({classes})", data=name))
    assert isinstance(ds, Dataset) and ds.name == name and ds.classes == classes
    assert ds.x_train.shape == (n, features) and ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (n,) and ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(classes))
    assert ds.x_val.shape == (0, features) and ds.y_val.shape == (0,)
    expected = getattr(sklearn_datasets, f"load_{name}")()
    np.testing.assert_array_equal(ds.x_train, expected.data.astype(np.float32))  # split 0 keeps the order
    np.testing.assert_array_equal(ds.y_train, expected.target)


def test_digits_serve_a_flat_input_and_an_image_input_row_major():
    digits = sklearn_datasets.load_digits()
    flat = load_dataset(make_spec([64], data="digits"))
    image = load_dataset(make_spec([8, 8, 1], data="digits", layers=["Flatten()"]))
    assert flat.x_train.shape == (1797, 64) and image.x_train.shape == (1797, 8, 8, 1)
    np.testing.assert_array_equal(image.x_train[0, :, :, 0], digits.images[0])
    np.testing.assert_array_equal(image.x_train[123, :, :, 0], digits.images[123])
    np.testing.assert_array_equal(flat.x_train.reshape(-1, 8, 8), image.x_train[..., 0])
    assert flat.x_train.min() == 0 and flat.x_train.max() == 16  # left as they are; specs rescale by 1/16


def test_dtype_float64_for_equivalence_runs():
    ds = load_dataset(make_spec([4], "Dense(3)", loss="categorical_crossentropy", data="iris"), dtype=np.float64)
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.float64
    reg = load_dataset(make_spec([8], "Dense(1)", loss="mse", data="regression"), dtype="float64")
    assert reg.x_train.dtype == np.float64 and reg.y_train.dtype == np.float64


# ---- the labels each loss needs ------------------------------------------------------------------
def test_sparse_categorical_gives_int64_indices():
    ds = load_dataset(make_spec([4], "Dense(3)", data="iris"))
    assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (150,)


def test_categorical_one_hot_encodes_integer_labels():
    iris = sklearn_datasets.load_iris()
    ds = load_dataset(make_spec([4], "Dense(3, activation=softmax)", loss="categorical_crossentropy", data="iris"))
    assert ds.y_train.shape == (150, 3) and ds.y_train.dtype == np.float32
    assert set(np.unique(ds.y_train)) == {0.0, 1.0}
    np.testing.assert_array_equal(ds.y_train.sum(axis=1), 1)
    np.testing.assert_array_equal(ds.y_train.argmax(axis=1), iris.target)
    assert ds.classes == 3


def test_categorical_accepts_an_already_one_hot_y(tmp_path):
    labels = np.array([0, 2, 1, 1, 0])
    save_npz(tmp_path / "d.npz", x=np.ones((5, 2)), y=np.eye(3)[labels])
    ds = load_dataset(make_spec([2], "Dense(3)", loss="categorical_crossentropy", data='"d.npz"'), base_dir=tmp_path)
    np.testing.assert_array_equal(ds.y_train, np.eye(3, dtype=np.float32)[labels])


def test_sparse_accepts_a_one_hot_y_as_indices(tmp_path):
    labels = np.array([0, 2, 1, 1, 0])
    save_npz(tmp_path / "d.npz", x=np.ones((5, 2)), y=np.eye(3)[labels])
    ds = load_dataset(make_spec([2], "Dense(3)", data='"d.npz"'), base_dir=tmp_path)
    np.testing.assert_array_equal(ds.y_train, labels)


def test_binary_crossentropy_gives_float_column_of_0_and_1():
    cancer = sklearn_datasets.load_breast_cancer()
    ds = load_dataset(make_spec([30], "Dense(1, activation=sigmoid)", loss="binary_crossentropy",
                                data="breast_cancer"))
    assert ds.y_train.shape == (569, 1) and ds.y_train.dtype == np.float32
    np.testing.assert_array_equal(ds.y_train[:, 0], cancer.target)
    assert ds.classes == 2


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_regression_losses_give_float_columns(loss):
    ds = load_dataset(make_spec([8], "Dense(1)", loss=loss, data="regression(n_samples=50)"))
    assert ds.y_train.shape == (50, 1) and ds.y_train.dtype == np.float32 and ds.classes is None


def test_mse_one_hot_encodes_integer_labels_for_several_units():
    ds = load_dataset(make_spec([4], "Dense(3)", loss="mse", data="iris"))
    assert ds.y_train.shape == (150, 3) and ds.classes == 3
    np.testing.assert_array_equal(ds.y_train.argmax(axis=1), sklearn_datasets.load_iris().target)


def test_mse_keeps_multi_output_targets_and_makes_1d_targets_columns(tmp_path):
    y = np.arange(10.0).reshape(5, 2) / 3
    save_npz(tmp_path / "two.npz", x=np.ones((5, 4)), y=y)
    ds = load_dataset(make_spec([4], "Dense(2)", loss="mse", data='"two.npz"'), base_dir=tmp_path)
    np.testing.assert_allclose(ds.y_train, y.astype(np.float32))
    save_npz(tmp_path / "one.npz", x=np.ones((5, 4)), y=np.linspace(-1, 1, 5))
    ds = load_dataset(make_spec([4], "Dense(1)", loss="mae", data='"one.npz"'), base_dir=tmp_path)
    assert ds.y_train.shape == (5, 1)


# ---- validation split ------------------------------------------------------------------------------
def rows(a: np.ndarray) -> list[tuple]:
    return sorted(map(tuple, a.reshape(len(a), -1).tolist()))


def test_split_sizes_and_the_union_is_the_whole_set():
    ds = load_dataset(make_spec([4], "Dense(3)", data="iris", split=0.2))
    assert (ds.n_train, ds.n_val) == (120, 30)
    assert ds.x_val.shape == (30, 4) and ds.y_val.shape == (30,)
    iris = sklearn_datasets.load_iris()
    combined = np.concatenate([ds.x_train, ds.x_val])
    assert rows(combined) == rows(iris.data.astype(np.float32))
    # n_val = int(round(N * split)): 1797 * 0.15 = 269.55 -> 270
    digits = load_dataset(make_spec([64], data="digits", split=0.15))
    assert (digits.n_train, digits.n_val) == (1527, 270)


def test_split_is_deterministic_from_the_seed():
    a = load_dataset(make_spec([4], "Dense(3)", data="iris", split=0.2, seed=5))
    b = load_dataset(make_spec([4], "Dense(3)", data="iris", split=0.2, seed=5))
    c = load_dataset(make_spec([4], "Dense(3)", data="iris", split=0.2, seed=6))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_val, c.x_val)


def test_split_shuffles_before_taking_the_last_fraction():
    """iris is sorted by class: Keras' unshuffled last 20% would be class 2 only."""
    iris = sklearn_datasets.load_iris()
    assert set(iris.target[-30:]) == {2}
    ds = load_dataset(make_spec([4], "Dense(3)", data="iris", split=0.2))
    assert len(set(ds.y_val.tolist())) > 1
    order = np.random.default_rng(0).permutation(150)  # the documented rule, seed 0
    np.testing.assert_array_equal(ds.y_val, iris.target[order][-30:])
    np.testing.assert_array_equal(ds.y_train, iris.target[order][:120])


def test_split_that_leaves_no_validation_or_no_training_samples(tmp_path):
    save_npz(tmp_path / "three.npz", x=np.ones((3, 2)), y=np.array([0, 1, 0]))
    msg = error(make_spec([2], "Dense(2)", data='"three.npz"', split=0.1), base_dir=tmp_path)
    assert "validation_split 0.1 of 3 samples leaves no validation samples" in msg
    msg = error(make_spec([2], "Dense(2)", data='"three.npz"', split=0.9), base_dir=tmp_path)
    assert "validation_split 0.9 of 3 samples leaves no training samples" in msg


# ---- generated sets -----------------------------------------------------------------------------
@pytest.mark.parametrize("data, x_shape, y_shape", [
    (SpiralsData(n_samples=100, classes=3, noise=0.1), (100, 2), (100,)),
    (BlobsData(n_samples=90, classes=4, features=5, noise=1.0), (90, 5), (90,)),
    (RegressionData(n_samples=70, features=6, noise=0.1), (70, 6), (70, 1)),
])
def test_generators_are_deterministic_from_the_seed(data, x_shape, y_shape):
    x1, y1 = generate(data, 3)
    x2, y2 = generate(data, 3)
    x3, _ = generate(data, 4)
    assert x1.shape == x_shape and y1.shape == y_shape
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_spirals_classes_radii_and_order():
    x, y = generate(SpiralsData(n_samples=100, classes=3, noise=0.0), 0)
    assert np.bincount(y).tolist() == [34, 33, 33]
    r = np.hypot(x[:, 0], x[:, 1])
    assert 0 < r.min() and r.max() < 1  # r = t = (i + 1/2) / n_k
    assert len(set(y[:10].tolist())) > 1  # shuffled, not sorted by class
    # class k is the Archimedean spiral theta = 2*pi*(k/K + r), with r = t = (i + 1/2) / n_k
    theta = np.arctan2(x[:, 1], x[:, 0])
    offset = np.angle(np.exp(1j * (theta - 2 * np.pi * (y / 3 + r))))
    np.testing.assert_allclose(offset, 0, atol=1e-9)
    for k in range(3):
        rk = np.sort(r[y == k])
        np.testing.assert_allclose(rk, (np.arange(len(rk)) + 0.5) / len(rk))


def test_blobs_clusters_and_balance():
    x, y = generate(BlobsData(n_samples=10, classes=3, features=2, noise=0.0), 1)
    assert np.bincount(y).tolist() == [4, 3, 3]
    centres = np.random.default_rng(1).uniform(-10, 10, size=(3, 2))  # the documented draw
    np.testing.assert_allclose(x, centres[y])


def test_regression_is_the_documented_linear_target():
    x, y = generate(RegressionData(n_samples=40, features=3, noise=0.0), 2)
    rng = np.random.default_rng(2)
    w = rng.standard_normal(3)
    np.testing.assert_allclose(x, rng.standard_normal((40, 3)))
    np.testing.assert_allclose(y[:, 0], x @ w)


def test_generated_sets_by_name_use_defaults_and_the_spec_seed():
    ds = load_dataset(make_spec([2], "Dense(3)", data="digits", seed=9), data="spirals")
    assert ds.name == "spirals" and ds.x_train.shape == (1000, 2) and ds.classes == 3
    x, y = generate(SpiralsData(), 9)
    np.testing.assert_array_equal(ds.x_train, x.astype(np.float32))
    ds = load_dataset(make_spec([2], "Dense(3)", data="blobs(n_samples=60, noise=0.5)", split=0.25))
    assert (ds.n_train, ds.n_val) == (45, 15)


# ---- files -------------------------------------------------------------------------------------
def test_npz_round_trip_reshaped_to_the_image_input(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((12, 28, 28))
    y = rng.integers(0, 10, 12)
    save_npz(tmp_path / "images.npz", x=x, y=y)
    spec = make_spec([28, 28, 1], data='"images.npz"', layers=["Flatten()"])
    ds = load_dataset(spec, base_dir=tmp_path)
    assert ds.name == "images.npz"
    assert ds.x_train.shape == (12, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_train[..., 0], x.astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y)


def test_csv_round_trip_with_the_label_column_anywhere(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,label,b\n1,0,2.5\n3,2,-4\n\n5,1,6e-1\n")
    ds = load_dataset(make_spec([2], "Dense(3)", data='"table.csv"'), base_dir=tmp_path)
    np.testing.assert_array_equal(ds.x_train, np.array([[1, 2.5], [3, -4], [5, 0.6]], dtype=np.float32))
    np.testing.assert_array_equal(ds.y_train, [0, 2, 1])
    other = tmp_path / "other.csv"
    other.write_text("f1,f2,species\n0.5,1,1\n1.5,2,0\n")
    spec = make_spec([2], "Dense(2)", data='file("other.csv", label="species")')
    np.testing.assert_array_equal(load_dataset(spec, base_dir=tmp_path).y_train, [1, 0])


def test_data_override_by_path_and_name(tmp_path):
    np.savetxt(tmp_path / "d.csv", np.array([[0, 1, 2], [1, 3, 4]]), delimiter=",", header="label,x1,x2",
               comments="")
    spec = make_spec([2], "Dense(2)", data="iris")
    ds = load_dataset(spec, data="d.csv", base_dir=tmp_path)
    assert ds.x_train.shape == (2, 2)
    ds = load_dataset(spec, data=tmp_path / "d.csv")  # an absolute Path ignores base_dir
    assert ds.name.endswith("d.csv")


def test_data_override_by_bundled_name():
    ds = load_dataset(make_spec([4], "Dense(3)", data="digits"), data="iris")
    assert ds.name == "iris" and ds.x_train.shape == (150, 4)


def test_describe_data():
    assert describe_data("digits") == "digits (scikit-learn: 1797 samples, 64 features, 10 classes)"
    assert describe_data(SpiralsData(n_samples=1500, classes=3, noise=0.1)) == \
        "spirals(n_samples=1500, classes=3, noise=0.1)"
    assert describe_data("x.csv") == "file 'x.csv' (label column 'label')"
    assert describe_data(FileData(path="x.npz")) == "file 'x.npz'"
    assert describe_data("regression") == "regression(n_samples=1000, features=8, noise=0.1)"
    assert resolve_data("wine") == BuiltinData(name="wine")


# ---- every DataError ------------------------------------------------------------------------------
def test_no_data_at_all():
    msg = error(make_spec([4], "Dense(3)"))
    assert "no data given" in msg and "--data" in msg


def test_spec_without_a_train_section():
    spec = compile_text("model m {\n    Input([4])\n    Dense(3)\n}\n").spec
    assert "no train section" in error(spec, data="iris")


def test_missing_file(tmp_path):
    msg = error(make_spec([4], "Dense(3)", data='"x.npz"'), base_dir=tmp_path)
    assert msg.startswith("data file 'x.npz' does not exist")


def test_unknown_name_and_suffix(tmp_path):
    assert "did you mean 'digits'?" in error(make_spec([64]), data="digts")
    (tmp_path / "d.txt").write_text("1,2\n")
    assert "must be .npz" in error(make_spec([64]), data=str(tmp_path / "d.txt"))


def test_bundled_set_that_does_not_fit_the_model():
    msg = error(make_spec([63]), data="digits")
    assert msg == "data: x has 64 features per sample but the model input [63] needs 63"
    assert "outside the 3 classes the model outputs (0..2)" in error(make_spec([64], "Dense(3)"), data="digits")
    msg = error(make_spec([30], "Dense(2)", loss="binary_crossentropy"), data="breast_cancer")
    assert "needs 2" in msg and "Dense(1, activation=sigmoid)" in msg


def test_feature_count_mismatch(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((4, 63)), y=np.zeros(4, int))
    msg = error(make_spec([64]), data="d.npz", base_dir=tmp_path)
    assert "data: x has 63 features per sample but the model input [64] needs 64" in msg
    save_npz(tmp_path / "img.npz", x=np.ones((4, 28, 28)), y=np.zeros(4, int))
    msg = error(make_spec([32, 32, 1], layers=["Flatten()"]), data="img.npz", base_dir=tmp_path)
    assert "samples of shape [28, 28] (784 values) but the model input [32, 32, 1] needs 1024" in msg


def test_nan_and_inf(tmp_path):
    x = np.ones((20, 4))
    x[17, 2] = np.nan
    save_npz(tmp_path / "nan.npz", x=x, y=np.zeros(20, int))
    assert "data: x contains NaN (first at sample 17)" in error(make_spec([4], "Dense(3)"), data="nan.npz",
                                                                   base_dir=tmp_path)
    y = np.zeros(20)
    y[5] = np.inf
    save_npz(tmp_path / "inf.npz", x=np.ones((20, 4)), y=y)
    assert "data: y contains inf (first at sample 5)" in error(make_spec([4], "Dense(1)", loss="mse"),
                                                                 data="inf.npz", base_dir=tmp_path)
    save_npz(tmp_path / "big.npz", x=np.full((3, 4), 1e300), y=np.zeros(3))
    assert "too large for float32" in error(make_spec([4], "Dense(1)", loss="mse"), data="big.npz",
                                            base_dir=tmp_path)


def test_label_outside_the_model_classes(tmp_path):
    y = np.zeros(5, int)
    y[3] = 12
    save_npz(tmp_path / "d.npz", x=np.ones((5, 64)), y=y)
    msg = error(make_spec([64]), data="d.npz", base_dir=tmp_path)
    assert msg == "data: label 12 at sample 3 is outside the 10 classes the model outputs (0..9)"
    y[3] = -1
    save_npz(tmp_path / "neg.npz", x=np.ones((5, 64)), y=y)
    assert "label -1 at sample 3" in error(make_spec([64], loss="categorical_crossentropy"), data="neg.npz",
                                           base_dir=tmp_path)


def test_binary_labels_must_be_0_or_1(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([0, 1, 2, 1]))
    msg = error(make_spec([2], "Dense(1, activation=sigmoid)", loss="binary_crossentropy"), data="d.npz",
                base_dir=tmp_path)
    assert "label 2 at sample 2 is outside the 2 classes binary_crossentropy takes (0 or 1)" in msg


def test_non_integer_labels_for_a_classification_loss(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([0, 1, 0.5, 1]))
    for loss in ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"):
        output = "Dense(1)" if loss == "binary_crossentropy" else "Dense(2)"
        msg = error(make_spec([2], output, loss=loss), data="d.npz", base_dir=tmp_path)
        assert "label 0.5 at sample 2 is not a class index" in msg, msg


def test_one_hot_shaped_y_that_is_not_one_hot(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.array([[1, 0], [1, 1], [0, 1]]))
    msg = error(make_spec([2], "Dense(2)", loss="categorical_crossentropy"), data="d.npz", base_dir=tmp_path)
    assert "is not one-hot" in msg and "sample 1" in msg


def test_target_count_mismatch(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.ones((3, 4)))
    assert "y has 4 values per sample but the model output [2] needs 2" in error(
        make_spec([2], "Dense(2)", loss="mse"), data="d.npz", base_dir=tmp_path)
    assert "y has 4 values per sample" in error(make_spec([2], "Dense(3)"), data="d.npz", base_dir=tmp_path)
    msg = error(make_spec([8], "Dense(3)", loss="mse"), data="regression")
    assert "integer class labels 0..2 would be one-hot encoded" in msg


def test_length_mismatch_and_no_samples(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.ones((5, 2)), y=np.zeros(4, int))
    assert "data: x has 5 samples but y has 4" in error(make_spec([2], "Dense(2)"), data="d.npz", base_dir=tmp_path)
    save_npz(tmp_path / "empty.npz", x=np.ones((0, 2)), y=np.zeros(0, int))
    assert "has no samples" in error(make_spec([2], "Dense(2)"), data="empty.npz", base_dir=tmp_path)
    (tmp_path / "empty.csv").write_text("a,label\n")
    assert "has no samples" in error(make_spec([1], "Dense(2)"), data="empty.csv", base_dir=tmp_path)


def test_npz_errors(tmp_path):
    save_npz(tmp_path / "d.npz", a=np.ones(3), b=np.ones(3))
    assert "data file 'd.npz' must hold arrays 'x' and 'y' (found: a, b)" in error(
        make_spec([2], "Dense(2)"), data="d.npz", base_dir=tmp_path)
    save_npz(tmp_path / "obj.npz", x=np.array([[1], "a"], dtype=object), y=np.zeros(2))
    assert "holds Python objects" in error(make_spec([1], "Dense(2)"), data="obj.npz", base_dir=tmp_path)
    save_npz(tmp_path / "str.npz", x=np.array([["a"], ["b"]]), y=np.zeros(2))
    assert "must hold real numbers" in error(make_spec([1], "Dense(2)"), data="str.npz", base_dir=tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    assert "data file 'junk.npz' is not a .npz archive" in error(make_spec([1], "Dense(2)"), data="junk.npz",
                                                                  base_dir=tmp_path)


def test_csv_errors(tmp_path):
    spec = make_spec([2], "Dense(2)")
    (tmp_path / "nolabel.csv").write_text("a,b\n1,2\n")
    assert "data file 'nolabel.csv' has no column 'label' (columns: a, b)" in error(spec, data="nolabel.csv",
                                                                                    base_dir=tmp_path)
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    assert "line 3, column 'b': 'x' is not a number" in error(spec, data="bad.csv", base_dir=tmp_path)
    (tmp_path / "blank.csv").write_text("a,b,label\n1,,0\n")
    assert "line 2, column 'b': is empty" in error(spec, data="blank.csv", base_dir=tmp_path)
    (tmp_path / "short.csv").write_text("a,b,label\n1,2,0\n1,2\n")
    assert "line 3 has 2 cells but the header names 3 columns" in error(spec, data="short.csv", base_dir=tmp_path)
    (tmp_path / "noheader.csv").write_text("1,2,0\n3,4,1\n")
    assert "has no header row" in error(spec, data="noheader.csv", base_dir=tmp_path)
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in error(spec, data="empty.csv", base_dir=tmp_path)


def test_csv_that_cannot_be_read_as_numbers(tmp_path, monkeypatch):
    spec = make_spec([2], "Dense(2)")
    (tmp_path / "nul.csv").write_bytes(b"a,b,label\n1,2,0\n1,\x002,1\n")
    assert "data file 'nul.csv' line 3, column 'b': '\\x002' is not a number" in error(spec, data="nul.csv",
                                                                                       base_dir=tmp_path)
    (tmp_path / "latin1.csv").write_bytes("a,b,label\n1,2,0\n# caf\xe9\n".encode("latin-1"))
    assert "data file 'latin1.csv' is not UTF-8 text" in error(spec, data="latin1.csv", base_dir=tmp_path)
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(1000)) + "\n" + ",".join("1" * 1000) + "\n")
    message = error(spec, data="wide.csv", base_dir=tmp_path)
    assert "has no column 'label' (columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, … (1000 columns))" \
        in message and len(message) < 200
    (tmp_path / "long.csv").write_text("a,b,label\n1,2,0\n1,2," + "7" * 200_000 + "\n")
    assert "data file 'long.csv' line 3: a cell is longer than 131,072 characters" in error(
        spec, data="long.csv", base_dir=tmp_path)


def test_csv_within_a_quarter_of_the_data_budget(tmp_path, monkeypatch):
    spec = make_spec([2], "Dense(2)")
    rows = "".join(f"{i},{i + 1},{i % 2}\n" for i in range(40))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows)
    size = (tmp_path / "d.csv").stat().st_size
    monkeypatch.setenv("NNSPEC_DATA_BUDGET", str(4 * size))
    assert load_dataset(spec, data="d.csv", base_dir=tmp_path).n_train == 40
    monkeypatch.setenv("NNSPEC_DATA_BUDGET", str(4 * size - 4))
    assert (f"data file 'd.csv' is {size} bytes, over the CSV limit of {size - 1} bytes, a quarter of the data "
            f"budget of") in error(spec, data="d.csv", base_dir=tmp_path)


def test_csv_with_a_byte_order_mark_and_quoted_numbers(tmp_path):
    (tmp_path / "d.csv").write_bytes(b'\xef\xbb\xbfa,"b",label\n"1.5", 2 ,1\n\n3,4,0\n')
    ds = load_dataset(make_spec([2], "Dense(2)"), data="d.csv", base_dir=tmp_path)
    np.testing.assert_array_equal(ds.x_train, [[1.5, 2], [3, 4]])
    np.testing.assert_array_equal(ds.y_train, [1, 0])


def test_csv_read_cell_by_cell_gives_the_same_arrays_as_the_fast_reader(tmp_path, monkeypatch):
    from runtime import data_files

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((50, 3)) * 10.0 ** rng.integers(-30, 30, (50, 3)), rng.integers(0, 3, 50)
    rows = [",".join(map(repr, r)) + f",{t}" for r, t in zip(x.tolist(), y.tolist())]
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    spec = make_spec([3], "Dense(3)", loss="sparse_categorical_crossentropy")
    fast = load_dataset(spec, data="d.csv", base_dir=tmp_path, dtype=np.float64)
    monkeypatch.setattr(data_files, "_loadtxt", lambda text, columns: None)
    slow = load_dataset(spec, data="d.csv", base_dir=tmp_path, dtype=np.float64)
    np.testing.assert_array_equal(fast.x_train, x)
    np.testing.assert_array_equal(slow.x_train, x)
    np.testing.assert_array_equal(slow.y_train, fast.y_train)
    (tmp_path / "nan.csv").write_text("a,b,c,label\n1,2,3,0\n1,nan,3,1\n")
    assert "data: x contains NaN (first at sample 1)" in error(spec, data="nan.csv", base_dir=tmp_path)


def test_does_not_import_torch_tensorflow_or_sklearn_up_front():
    code = ("import sys, runtime.data; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
