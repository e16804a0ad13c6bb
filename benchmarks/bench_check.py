"""How fast is ``nnspec check``? A standalone benchmark that prints figures, and tests nothing.

Run it with the interpreter of the environment where nnspec is installed, from anywhere:

    python benchmarks/bench_check.py                   # about 70 s on 2 cores (40 s of it the big specs)
    python benchmarks/bench_check.py --runs 15 --json bench.json
    python benchmarks/bench_check.py --quick           # fewer rounds, one round of the big specs

The environment, load, verdicts and JSON are ``harness.py``'s; the measuring uses only the standard
library (``time.perf_counter``, ``subprocess``, ``statistics``). It never fails on a slow result: "met"
/ "missed" are printed as text. It exits non-zero only when something crashes (a generated spec that
does not compile, a command that exits with an error).

What it measures
----------------
1. In-process compile time: ``compiler.pipeline.compile_text(text, path)``, i.e. parse, evaluate,
   expand, build and validate the layers, resolve ``auto`` initializers, infer shapes, build the
   training section and run the lints, on generated specs of 10, 100 and 1000 layers:

   * ``mlp``    Dense / BatchNormalization / Activation / Dropout, every layer written out literally;
   * ``cnn``    Conv2D(padding=same) / BatchNormalization / Activation(relu) with a MaxPooling2D every
                few convs while the spatial size allows, then Flatten + Dense; written out literally;
   * ``repeat`` the mlp pattern as a ``block`` called inside ``repeat`` (few lines of text, same number
                of layers after expansion: shows parse cost vs. pass cost).

   Each spec is compiled once to warm up (imports, first-use pydantic schema builds, the Lark
   parser), then ``--inproc-runs`` times (default 7); the table gives the median and the minimum in
   ms, the median per layer in µs, and the median of ``spec_lang.parse`` alone (the parse share).
   "layers" is the number of layers of the compiled model (Input included).
   Target: a 1000-layer spec compiles in under 0.2 s (median); the ratio is median / 0.2 s.

2. Whole-process wall time (``subprocess.run``, output discarded), of

   * ``nnspec check specs/*.nns``     every example spec (the command a user and CI run);
   * ``nnspec check digits_mlp.nns``  one small spec;
   * ``nnspec --version``             CLI start-up alone: interpreter + imports + Typer, no compiling;
   * baseline ``python -c "import pydantic, lark"`` with the same interpreter: the floor any tool
     built on these libraries pays.

   After one warm-up run of each, the commands run in rounds (baseline, then each command; ``--runs``
   rounds, default 9), so slow drift of the machine hits all of them alike. For each command the
   table gives median / min / max seconds and the median over rounds of (command / baseline of the
   same round). Target: ``nnspec check specs/*.nns`` under 2x the baseline.

3. Big specs, whole process (``--big-runs`` rounds, default 3): ``nnspec check`` and ``nnspec fmt
   --check`` on generated canonical specs of 0.25, 0.5 and 1 MB: an MLP written out with every
   argument named (``Dense(64, activation=relu, kernel_initializer=he_uniform, kernel_regularizer=
   l2(0.0001), name="dense_17")``, one argument per line as ``fmt`` writes it: about 160 bytes and
   22 tokens a layer, 6,500 layers in 1 MB, under the layer limit). The scaling table gives the
   median seconds and seconds per MB: equal per-MB figures mean linear time. Then the "1 MB spec"
   rows: the same 1 MB MLP, 1 MB of ``Dense(8)`` lines (80,000 layers, 320,000 tokens) and a 1 MB
   list ``x = [1, 1, ...]`` (700,000 tokens), both refused at the token limit (250,000) after
   scanning that many tokens. Target: a 1 MB spec in under 2 s for ``check`` and ``fmt`` (whole
   process).

How to read it
--------------
Compare medians; the minimum is the best case with the least noise from the machine. "--version"
minus the baseline is the CLI's fixed start-up: importing Typer (a command's module, hence the
compiler, is imported only when that command runs). "check digits_mlp" minus "--version" is the
first spec: importing the compiler and creating its pydantic model classes, building the Lark
parser (from its on-disk cache), first-use schema builds, one compile, one summary. "check
specs/*.nns" minus "check digits_mlp" divided by the other specs is the marginal cost of a spec.
Wall times on a shared or throttled machine are noisy: check that nothing else is running, and
rerun with more ``--runs`` before drawing conclusions from a difference of a few per cent.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, Report, arguments, timed

SIZES = (10, 100, 1000)
INPROC_TARGET_S = 0.2        # a 1000-layer spec compiles in under 0.2 s
INPROC_TARGET_LAYERS = 1000
CLI_TARGET_RATIO = 2.0       # `nnspec check specs/*.nns` under 2x `python -c "import pydantic, lark"`
BIG_SIZES_MB = (0.25, 0.5, 1.0)
BIG_TARGET_S = 2.0           # `nnspec check` and `nnspec fmt` on a 1 MB spec, whole process
SMALL_SPEC = "specs/digits_mlp.nns"

TRAIN = """
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    batch_size = 32
    epochs = 10
    seed = 1
    metrics = [accuracy]
}
"""


# ---------------------------------------------------------------------------------------------
# generated specs
# ---------------------------------------------------------------------------------------------

def _mlp_pattern(width: int):
    """Dense -> BatchNormalization -> Activation -> Dropout, forever (no lint warnings)."""
    while True:
        yield f"Dense({width}, use_bias=false)"
        yield "BatchNormalization()"
        yield "Activation(relu)"
        yield "Dropout(0.1)"


def _spec(name: str, head: list[str], body: list[str], tail: list[str], prelude: str = "") -> str:
    lines = [f"# generated by benchmarks/bench_check.py: {name}", "", "num_classes = 10", ""]
    lines += [prelude] if prelude else []
    lines.append(f"model {name} {{")
    lines += [f"    {call}" for call in head + body + tail]
    lines.append("}")
    return "\n".join(lines) + "\n" + TRAIN


def mlp_spec(n: int) -> str:
    """``n`` layers written out: Input, then the Dense/BN/Activation/Dropout pattern, Dense output."""
    head, tail = ["Input([64])"], ["Dense(num_classes, activation=softmax)"]
    pattern = _mlp_pattern(64)
    body = [next(pattern) for _ in range(n - len(head) - len(tail))]
    return _spec(f"mlp_{n}", head, body, tail)


def cnn_spec(n: int) -> str:
    """``n`` layers written out: Conv2D(same)/BN/ReLU units, a MaxPooling2D after every 3rd unit
    while the image is still at least 4x4 (32 -> 16 -> 8 -> 4 -> 2), then Flatten + Dense."""
    head = ["Input([32, 32, 3])", "Rescaling(1 / 255)"]
    tail = ["Flatten()", "Dense(num_classes, activation=softmax)"]
    room = n - len(head) - len(tail)
    body: list[str] = []
    size, filters, units = 32, 16, 0
    while len(body) < room:
        unit = [f"Conv2D({filters}, 3, padding=same, use_bias=false)", "BatchNormalization()", "Activation(relu)"]
        units += 1
        if units % 3 == 0 and size >= 4:
            unit.append("MaxPooling2D(2)")
            size //= 2
            filters = min(filters * 2, 128)
        body.extend(unit[: room - len(body)])
    return _spec(f"cnn_{n}", head, body, tail)


def repeat_spec(n: int) -> str:
    """The mlp pattern as a block inside ``repeat``; leftover layers written out. ``n`` layers expanded."""
    head, tail = ["Input([64])"], ["Dense(num_classes, activation=softmax)"]
    room = n - len(head) - len(tail)
    times, rest = divmod(room, 4)
    pattern = _mlp_pattern(64)
    body = ([f"repeat {times} {{ dense_unit(64) }}"] if times else []) + [next(pattern) for _ in range(rest)]
    prelude = ("block dense_unit(width) {\n    Dense(width, use_bias=false)\n    BatchNormalization()\n"
               "    Activation(relu)\n    Dropout(0.1)\n}\n")
    return _spec(f"repeat_{n}", head, body, tail, prelude)


GENERATORS = {"mlp": mlp_spec, "cnn": cnn_spec, "repeat": repeat_spec}


def verbose_mlp_spec(size: int) -> str:
    """A canonical spec of about ``size`` bytes: an MLP with every argument of each layer named."""
    head = ["# generated by benchmarks/bench_check.py: an MLP written out, every argument named", "",
            "model big {", "    Input([64])"]
    tail = ["    Dense(10, activation=softmax)", "}", TRAIN.rstrip("\n")]
    budget = size - sum(len(line) + 1 for line in head + tail)
    body, n = [], 0
    while True:  # too long for one line: `nnspec fmt` writes one argument per line
        n += 1
        lines = ["    Dense(", "        64,", "        activation=relu,", "        kernel_initializer=he_uniform,",
                 "        kernel_regularizer=l2(0.0001),", f'        name="dense_{n}",', "    )"]
        cost = sum(len(line) + 1 for line in lines)
        if budget < cost:
            break
        body += lines
        budget -= cost
    return "\n".join(head + body + tail) + "\n"


def dense8_spec(size: int) -> str:
    """About ``size`` bytes of ``Dense(8)`` lines: far more layers than a model may have."""
    head, line = "model m {\n    Input([8])\n", "    Dense(8)\n"
    return head + line * ((size - len(head) - 2) // len(line)) + "}\n"


def list_spec(size: int) -> str:
    """About ``size`` bytes of one list ``x = [1, 1, ...]``: more tokens than a spec may have."""
    return "x = [" + "1, " * ((size - 40) // 3) + "1]\nmodel m {\n    Input([8])\n    Dense(8)\n}\n"


# ---------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------

def bench_inprocess(runs: int) -> list[dict]:
    from compiler.pipeline import compile_text
    from spec_lang import parse
    from spec_lang.span import Source

    rows = []
    for kind, make in GENERATORS.items():
        for n in SIZES:
            text, path = make(n), f"<{kind}_{n}>"
            result = compile_text(text, path)                     # warm-up; raises SpecError if invalid
            layers = len(result.spec.layers)
            if layers != n:
                raise RuntimeError(f"generated {kind} spec has {layers} layers, expected {n}")
            times = [timed(lambda: compile_text(text, path))[0] for _ in range(runs)]
            parse_times = [timed(lambda: parse(Source(path, text)))[0] for _ in range(runs)]
            med = statistics.median(times)
            rows.append({
                "spec": kind, "layers": layers, "text_lines": text.count("\n"), "runs": runs,
                "warnings": len(result.warnings),
                "median_s": med, "min_s": min(times), "max_s": max(times),
                "per_layer_us": med / layers * 1e6,
                "parse_median_s": statistics.median(parse_times),
            })
    return rows


def nnspec_command() -> list[str]:
    """The console script next to this interpreter; else ``main()`` run with this interpreter."""
    bindir = Path(sys.executable).parent
    for name in ("nnspec", "nnspec.exe"):
        if (bindir / name).is_file():
            return [str(bindir / name)]
    # cli has main() but no __main__ module, so `python -m cli` would do nothing.
    return [sys.executable, "-c", "from cli import main; main()"]


def _run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def bench_processes(rounds: int) -> tuple[dict, list[dict]]:
    nnspec = nnspec_command()
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.nns"))
    if not specs:
        raise RuntimeError(f"no specs/*.nns under {ROOT}")
    baseline = ("python -c 'import pydantic, lark'", [sys.executable, "-c", "import pydantic, lark"])
    commands = [
        (f"nnspec check specs/*.nns ({len(specs)})", nnspec + ["check", *specs], "check_all"),
        (f"nnspec check {Path(SMALL_SPEC).name}", nnspec + ["check", SMALL_SPEC], "check_one"),
        ("nnspec --version", nnspec + ["--version"], "version"),
    ]
    for _, cmd, *_ in [baseline, *commands]:                     # warm-up: page cache, .pyc files
        _run(cmd)
    base_times: list[float] = []
    times: dict[str, list[float]] = {key: [] for *_, key in commands}
    for _ in range(rounds):
        base_times.append(_run(baseline[1]))
        for _, cmd, key in commands:
            times[key].append(_run(cmd))

    def summary(label, ts, command):
        return {"label": label, "command": command, "runs": len(ts), "median_s": statistics.median(ts),
                "min_s": min(ts), "max_s": max(ts)}

    base = summary(baseline[0], base_times, baseline[1])
    rows = []
    for label, cmd, key in commands:
        row = summary(label, times[key], cmd)
        row["key"] = key
        row["specs"] = len(specs) if key == "check_all" else (1 if key == "check_one" else 0)
        row["ratio_median"] = statistics.median(a / b for a, b in zip(times[key], base_times))
        rows.append(row)
    return base, rows


def bench_big(rounds: int) -> dict:
    """Whole-process check and fmt --check on big generated specs (see the module docstring, 3.)."""
    nnspec = nnspec_command()
    cases = [(f"mlp {mb:g} MB", verbose_mlp_spec(int(mb * 2**20)), (0,)) for mb in BIG_SIZES_MB]
    cases += [("Dense(8) 1 MB", dense8_spec(2**20), (0, 2)), ("list 1 MB", list_spec(2**20), (0, 2))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, text, ok in cases:
            path = Path(tmp) / (label.replace(" ", "_").replace("(", "").replace(")", "") + ".nns")
            path.write_text(text, encoding="utf-8")
            row = {"label": label, "bytes": len(text.encode("utf-8")), "layers": text.count("Dense(")}
            for key, cmd in (("check", nnspec + ["check", str(path)]), ("fmt", nnspec + ["fmt", "--check", str(path)])):
                _run(cmd, ok)  # warm-up: page cache
                times = [_run(cmd, ok) for _ in range(rounds)]
                row[f"{key}_median_s"], row[f"{key}_min_s"] = statistics.median(times), min(times)
            rows.append(row)
    return {"rounds": rounds, "rows": rows}


# ---------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------

def git_commit() -> str | None:
    if not shutil.which("git"):
        return None
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() or None


def print_inprocess(report: Report, rows: list[dict]) -> None:
    print(f"1. In-process compile_text (parse + passes + lint); warm-up 1, median of {rows[0]['runs']} runs")
    print(f"   {'spec':<7}{'layers':>7}{'lines':>7}{'median ms':>11}{'min ms':>9}{'us/layer':>10}"
          f"{'parse ms':>10}{'parse %':>9}")
    for r in rows:
        print(f"   {r['spec']:<7}{r['layers']:>7}{r['text_lines']:>7}{r['median_s'] * 1e3:>11.2f}"
              f"{r['min_s'] * 1e3:>9.2f}{r['per_layer_us']:>10.1f}{r['parse_median_s'] * 1e3:>10.2f}"
              f"{100 * r['parse_median_s'] / r['median_s']:>8.0f}%")
    for r in rows:
        if r["layers"] == INPROC_TARGET_LAYERS:
            report.verdict(f"compile_text, {r['spec']} of {INPROC_TARGET_LAYERS} layers (median)", r["median_s"],
                           INPROC_TARGET_S, at_least=False, unit=" s")


def print_processes(report: Report, base: dict, rows: list[dict], rounds: int) -> None:
    print(f"2. Whole process wall time (subprocess, output discarded); warm-up 1 each, {rounds} rounds")
    print(f"   {'command':<38}{'median s':>10}{'min s':>8}{'max s':>8}{'x base':>8}")
    print(f"   {base['label']:<38}{base['median_s']:>10.3f}{base['min_s']:>8.3f}{base['max_s']:>8.3f}{'1.00':>8}")
    for r in rows:
        print(f"   {r['label']:<38}{r['median_s']:>10.3f}{r['min_s']:>8.3f}{r['max_s']:>8.3f}"
              f"{r['ratio_median']:>8.2f}")
    print("   (x base: median over rounds of command / baseline of the same round)")
    by_key = {r["key"]: r for r in rows}
    check_all, check_one, version = by_key["check_all"], by_key["check_one"], by_key["version"]
    ratio = check_all["ratio_median"]
    report.verdict("nnspec check specs/*.nns / python -c 'import pydantic, lark'", ratio, CLI_TARGET_RATIO,
                   at_least=False)
    n_specs = check_all["specs"]
    print(f"   fixed start-up (--version - baseline):          {(version['median_s'] - base['median_s']) * 1e3:7.0f} ms")
    print(f"   first spec (check one - --version):             {(check_one['median_s'] - version['median_s']) * 1e3:7.0f} ms")
    print(f"   each further spec ((all - one) / {n_specs - 1}):            "
          f"{(check_all['median_s'] - check_one['median_s']) / max(n_specs - 1, 1) * 1e3:7.1f} ms")
    print("   note: most of the fixed cost is imports; `python -X importtime` breaks it down.")


def print_big(report: Report, big: dict) -> None:
    rows = big["rows"]
    print(f"3. Big specs, whole process (nnspec check / nnspec fmt --check); warm-up 1, median of {big['rounds']}")
    print(f"   {'spec':<16}{'MB':>6}{'layers':>8}{'check s':>9}{'s/MB':>7}{'fmt s':>8}{'s/MB':>7}")
    for r in rows:
        mb = r["bytes"] / 2**20
        print(f"   {r['label']:<16}{mb:>6.2f}{r['layers']:>8}{r['check_median_s']:>9.2f}"
              f"{r['check_median_s'] / mb:>7.2f}{r['fmt_median_s']:>8.2f}{r['fmt_median_s'] / mb:>7.2f}")
    scaling = [r for r in rows if r["label"].startswith("mlp")]
    for key in ("check", "fmt"):
        ratios = [r[f"{key}_median_s"] / scaling[0][f"{key}_median_s"] for r in scaling]
        sizes = [r["bytes"] / scaling[0]["bytes"] for r in scaling]
        print(f"   {key}: time x{', x'.join(f'{t:.2f}' for t in ratios)} for size x{', x'.join(f'{s:.1f}' for s in sizes)}"
              " (linear: the same factors, less the fixed start-up)")
    for r in rows:
        if r["bytes"] >= 2**20 - 4096:
            for key in ("check", "fmt"):
                report.verdict(f"nnspec {key} on {r['label']} (median)", r[f"{key}_median_s"], BIG_TARGET_S,
                               at_least=False, unit=" s")


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--runs", type=int, default=None, help="rounds of whole-process runs (default 9; --quick 3)")
    ap.add_argument("--inproc-runs", type=int, default=None, help="timed runs per in-process spec (default 7; --quick 3)")
    ap.add_argument("--big-runs", type=int, default=None,
                    help="rounds of the big-spec runs (default 3; --quick 1; 0 skips them)")
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 9)
    inproc_runs = args.inproc_runs or (3 if args.quick else 7)
    big_runs = args.big_runs if args.big_runs is not None else (1 if args.quick else 3)
    if runs < 1 or inproc_runs < 1 or big_runs < 0:
        ap.error("--runs and --inproc-runs must be at least 1, --big-runs at least 0")

    report = Report("bench_check", "how fast is nnspec check?", quick=args.quick,
                    libraries=("nnspec", "pydantic", "pydantic-core", "lark", "typer", "rich"))
    report.note("executable", sys.executable)
    report.note("git_commit", git_commit())
    print(f"  {sys.executable}; commit {report.env['git_commit']}")
    print()
    inproc = bench_inprocess(inproc_runs)
    print_inprocess(report, inproc)
    print()
    base, procs = bench_processes(runs)
    print_processes(report, base, procs, runs)
    print()
    big = bench_big(big_runs) if big_runs else None
    if big:
        print_big(report, big)
    report.results.update(inprocess={"target_s": INPROC_TARGET_S, "target_layers": INPROC_TARGET_LAYERS, "rows": inproc},
                          process={"rounds": runs, "target_ratio": CLI_TARGET_RATIO, "baseline": base, "rows": procs},
                          big=big)
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
