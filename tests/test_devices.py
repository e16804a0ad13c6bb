"""--device, the precision policies and TF32/determinism as run-time choices (``backends.devices``, the CLI).

On every machine: ``auto`` gives each backend the device its framework sees; a device or precision a
backend cannot use is one line, exit 2, nothing written; a malformed ``--device`` names the accepted forms;
run.json and equiv.json say where the run ran; a resume may move a run to another device but not to
another precision. "auto picks cuda:0" and the cuda:N range check are tested by making PyTorch (and
TensorFlow) report GPUs; the CUDA runs themselves are in tests/test_cuda.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.devices import DeviceError, check_precision, describe_device, parse_device, resolve_device
from backends.numpy.trainer import NumpyTrainer
from compiler.pipeline import compile_text
from frameworks import need
from runtime.checkpoint import FILENAME
from runtime.trainers import make_trainer
from write_faults import SPEC, interrupted_run, invoke, snapshot, write_spec

ROOT = Path(__file__).resolve().parent.parent
FORMS = "auto, cpu, cuda, cuda:N, mps"
POLICIES = ("float32", "float64", "mixed_bfloat16", "mixed_float16")


def torch_sees_cuda() -> bool:
    return need("torch").cuda.is_available()


def tensorflow_sees_a_gpu() -> bool:
    need("keras")
    return bool(need("tensorflow").config.list_physical_devices("GPU"))


def sees_a_gpu(backend: str) -> bool:
    return {"numpy": lambda: False, "torch": torch_sees_cuda, "keras": tensorflow_sees_a_gpu}[backend]()


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def recorded_overrides(run: Path) -> dict:
    with np.load(run / FILENAME) as data:
        return json.loads(str(data["meta"]))["overrides"]


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.fixture
def spec(tmp_path) -> Path:
    return write_spec(tmp_path)  # iris, 8 steps an epoch, 3 epochs


# ---- resolution ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch", "keras"])
def test_auto_is_the_gpu_the_framework_sees_else_the_cpu_and_cpu_is_always_accepted(backend):
    assert resolve_device(backend, "auto") == ("cuda:0" if sees_a_gpu(backend) else "cpu")
    assert resolve_device(backend, "cpu") == resolve_device(backend, " CPU ") == "cpu"


@pytest.mark.parametrize("text, device", [("cuda", "cuda:0"), ("cuda:1", "cuda:1"), ("CUDA:01", "cuda:1"),
                                          ("mps", "mps"), ("auto", "auto")])
def test_device_forms_are_normalised(text, device):
    assert parse_device(text) == device


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cuda:-1", "cuda:", "cuda0", "tpu", ""])
def test_another_form_is_refused_naming_the_accepted_ones(text):
    with pytest.raises(DeviceError, match=FORMS):
        parse_device(text)


def test_auto_picks_cuda_0_when_torch_sees_cuda_and_cuda_n_is_checked_against_the_count(monkeypatch):
    torch = need("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("torch", "auto") == "cuda:0"
    assert resolve_device("torch", "cuda") == "cuda:0"
    assert resolve_device("torch", "cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match=r"no cuda:2: PyTorch sees 2 CUDA devices \(cuda:0 to cuda:1\)"):
        resolve_device("torch", "cuda:2")
    assert resolve_device("numpy", "auto") == "cpu"  # NumPy runs on the CPU whatever the machine has
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Fake GPU {index}")
    assert describe_device("cuda:1") == "Fake GPU 1" and describe_device("cpu") == "CPU"


def test_keras_takes_a_gpu_only_when_tensorflow_lists_one(monkeypatch):
    need("keras")
    tf = need("tensorflow")
    listed = {"GPU": []}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: listed.get(kind, []))
    with pytest.raises(DeviceError, match="sees no GPU: a GPU needs a GPU build of TensorFlow"):
        resolve_device("keras", "cuda")
    assert resolve_device("keras", "auto") == "cpu"
    listed["GPU"] = ["/physical_device:GPU:0"]
    assert resolve_device("keras", "auto") == resolve_device("keras", "cuda") == "cuda:0"
    with pytest.raises(DeviceError, match=r"no cuda:1: TensorFlow sees 1 CUDA device \(cuda:0\)"):
        resolve_device("keras", "cuda:1")
    with pytest.raises(DeviceError, match="no 'mps' device"):
        resolve_device("keras", "mps")


def test_torch_refuses_cuda_and_mps_it_does_not_see(monkeypatch):
    torch = need("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device, message in (("cuda", "PyTorch sees no CUDA device"), ("cuda:3", "PyTorch sees no CUDA device"),
                            ("mps", "PyTorch sees no MPS device")):
        with pytest.raises(DeviceError, match=message):
            resolve_device("torch", device)


def test_precisions_each_backend_can_train_in():
    for policy in POLICIES:
        assert check_precision("torch", policy) == check_precision("keras", policy) == policy
    assert check_precision("numpy", np.float32) == "float32" and check_precision("numpy", "float64") == "float64"
    for policy in ("mixed_bfloat16", "mixed_float16"):
        with pytest.raises(DeviceError, match=f"numpy backend computes in float32 or float64 only, not {policy}"):
            check_precision("numpy", policy)
    with pytest.raises(DeviceError, match="MPS has no float64"):
        check_precision("torch", "float64", "mps")
    with pytest.raises(DeviceError, match="unknown precision 'float8'"):
        check_precision("torch", "float8")


def test_the_numpy_trainer_refuses_another_device_or_a_mixed_precision():
    spec = compile_text(SPEC).spec
    assert NumpyTrainer(spec, dtype="float64", device="cpu", tf32=True, deterministic=True).params["dense/kernel"] \
        .dtype == np.float64
    with pytest.raises(ValueError, match="CPU only, not on cuda:0"):
        make_trainer("numpy", spec, device="cuda:0")  # make_trainer passes a device other than the default
    with pytest.raises(ValueError, match="float32 or float64 only, not mixed_float16"):
        make_trainer("numpy", spec, dtype="mixed_float16")


def test_choosing_a_device_imports_no_framework_unless_the_answer_needs_one():
    script = ("import sys\nfrom backends.devices import resolve_device, check_precision\n"
              "assert resolve_device('numpy', 'auto') == resolve_device('torch', 'cpu') == "
              "resolve_device('keras', 'cpu') == 'cpu'\ncheck_precision('keras', 'mixed_float16')\n"
              "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- the command line: refused before anything is written ----------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch", "keras"])
def test_train_on_a_device_the_backend_cannot_use_is_one_line_exit_2_nothing_written(spec, tmp_path, backend):
    if sees_a_gpu(backend):
        pytest.skip(f"the {backend} backend sees a GPU here: --device cuda is usable")
    out = tmp_path / "run"
    result = invoke("train", spec, "--backend", backend, "--device", "cuda", "--out", out)
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert line.startswith(f"{spec}: error: ") and ("cuda" in line or "GPU" in line), line
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "equiv", "diagnose", "lr-find"])
@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cuda:-1"])
def test_a_malformed_device_is_a_usage_error_naming_the_accepted_forms(spec, tmp_path, command, text):
    before = snapshot(tmp_path)
    result = invoke(command, spec, "--device", text)
    assert result.exit_code == 2
    assert "Invalid value for '--device'" in result.output and FORMS in result.output, result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_on_numpy_is_one_line_exit_2_nothing_written(spec, tmp_path, policy):
    out = tmp_path / "run"
    result = invoke("train", spec, "--dtype", policy, "--out", out)
    assert result.exit_code == 2
    assert f"not {policy}" in one_error_line(result.output)
    assert not out.exists()


@pytest.mark.parametrize("command", ["diagnose", "lr-find"])
def test_diagnose_and_lr_find_refuse_a_gpu_for_numpy_before_anything_is_written(spec, tmp_path, command):
    plot = tmp_path / "plot.png"
    result = invoke(command, spec, "--device", "cuda", "--plot", plot)
    assert result.exit_code == 2
    assert "numpy backend runs on the CPU only" in one_error_line(result.output)
    assert not plot.exists()


# ---- the command line: what a run records ---------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_run_json_records_the_device_its_name_the_policy_tf32_and_determinism(spec, tmp_path, backend):
    need("torch") if backend == "torch" else None
    out = tmp_path / "run"
    result = invoke("train", spec, "--backend", backend, "--device", "cpu", "--epochs", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"backend {backend} on cpu, float32" in result.output  # the header says where it runs
    info = run_json(out)
    assert {k: info[k] for k in ("device", "device_name", "dtype", "tf32", "deterministic")} == {
        "device": "cpu", "device_name": "CPU", "dtype": "float32", "tf32": False, "deterministic": False}
    assert "skipped_steps" not in info  # only a trainer that skips steps (mixed_float16) reports them


def test_equiv_says_where_each_backend_ran_and_records_it(spec, tmp_path):
    need("torch")
    out = tmp_path / "equiv"
    result = invoke("equiv", spec, "--backends", "numpy,torch", "--steps", "2", "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    assert "numpy on cpu, torch on cpu" in result.output
    report = json.loads((out / "equiv.json").read_text())
    assert report["devices"] == {"numpy": "cpu", "torch": "cpu"}
    assert report["device_names"] == {"numpy": "CPU", "torch": "CPU"}


def test_equiv_keeps_numpy_on_the_cpu_whatever_device_is_asked(spec, tmp_path):
    out = tmp_path / "equiv"
    result = invoke("equiv", spec, "--backends", "numpy", "--steps", "2", "--device", "cuda", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "equiv.json").read_text())["devices"] == {"numpy": "cpu"}


# ---- resume: another device yes, another precision no --------------------------------------------
def test_a_resume_may_change_the_device_tf32_and_determinism_and_records_them(spec, tmp_path):
    run = tmp_path / "run"
    result = interrupted_run(spec, run, "--device", "cpu", "--no-tf32", "--deterministic", at_step=10)
    hint = result.output.split("Continue with: ")[1]
    assert "--device cpu" in hint and "--no-tf32" in hint and "--deterministic" in hint  # recorded, repeated
    result = invoke("train", spec, "--resume", run, "--device", "auto", "--tf32", "--no-deterministic", "-q")
    assert result.exit_code == 0, result.output
    assert {k: recorded_overrides(run)[k] for k in ("device", "tf32", "deterministic")} == {
        "device": "auto", "tf32": True, "deterministic": False}
    info = run_json(run)
    assert (info["device"], info["tf32"], info["deterministic"]) == ("cpu", True, False)


@pytest.mark.parametrize("policy", ["float64", "mixed_bfloat16"])
def test_a_resume_with_another_precision_is_refused_and_nothing_changes(spec, tmp_path, policy):
    run = tmp_path / "run"
    interrupted_run(spec, run, at_step=10)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run, "--dtype", policy)
    assert result.exit_code == 2
    assert f"was trained with dtype float32, not {policy}" in one_error_line(result.output)
    assert snapshot(run) == before


def test_a_resume_on_a_device_the_backend_cannot_use_is_refused_and_nothing_changes(spec, tmp_path):
    run = tmp_path / "run"
    interrupted_run(spec, run, at_step=10)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run, "--device", "cuda")
    assert result.exit_code == 2
    assert "numpy backend runs on the CPU only" in one_error_line(result.output)
    assert snapshot(run) == before


def test_a_checkpoint_without_the_device_keys_resumes_as_before(spec, tmp_path):
    """A checkpoint written before --device existed records none of device, tf32, deterministic: it resumes
    with their defaults (auto: the CPU for numpy) and ends as a run that was never interrupted."""
    run, full = tmp_path / "run", tmp_path / "full"
    interrupted_run(spec, run, at_step=10)
    assert not {"device", "tf32", "deterministic"} & set(recorded_overrides(run))
    with np.load(run / FILENAME) as data:
        assert not {"device", "tf32", "deterministic"} & set(json.loads(str(data["meta"])))
    assert invoke("train", spec, "--resume", run, "-q").exit_code == 0
    assert invoke("train", spec, "--out", full, "-q").exit_code == 0
    assert run_json(run)["device"] == "cpu"
    a, b = np.load(run / "weights.npz"), np.load(full / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b.files)


def test_a_checkpoint_recording_a_malformed_device_is_refused_in_one_line(spec, tmp_path):
    run = tmp_path / "run"
    interrupted_run(spec, run, "--device", "cpu", at_step=10)
    path = run / FILENAME
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta["overrides"]["device"] = "gpu"
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run)
    assert result.exit_code == 2
    assert "overrides.device" in one_error_line(result.output) and FORMS in result.output
    assert snapshot(run) == before
