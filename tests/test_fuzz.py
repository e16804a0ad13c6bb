"""Fuzzing: mutated valid specs compile or fail with diagnostics, never with another exception.

Valid specs (a few inline, and every ``specs/*.nns``) are mutated as bytes: ranges deleted or
duplicated, tokens swapped or replaced, the text truncated, junk bytes (non-UTF-8, NUL, control
characters) and tokens of the language inserted. Each mutant goes through the real entry path,
``decode_source`` then ``compile_source``, and must either compile (and then serialize, read back
equal and summarize) or raise ``SpecError`` whose every diagnostic renders as
``path:line:col: error: ...`` (or ``path: error: ...``). Anything else, or a hang, is a bug.

The runs are derandomized and use no example database (the suite's Hypothesis profile, tests/conftest.py), so
CI sees the same examples every time.
"""

from __future__ import annotations

import re
import signal
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.ir.spec import Spec
from compiler.pipeline import CompileResult, compile_source
from compiler.summary import render_summary
from spec_lang.diagnostics import SpecError
from spec_lang.parser import decode_source

PATH = "fuzz.nns"
REPO_ROOT = Path(__file__).resolve().parent.parent
SECONDS_PER_SPEC = 300  # a hang detector, not a speed bound: only a real hang takes this long, even on a loaded machine

SEED_CNN = """
num_classes = 10

block conv_block(filters, pool=3) {
    Conv2D(filters, 3, padding=same, kernel_initializer=he_uniform)
    BatchNormalization()
    Activation(relu)
    MaxPooling2D(pool, padding=same)
}

model seed_cnn {
    Input([32, 32, 3])
    Rescaling(1 / 255)
    repeat 2 { conv_block(16) }
    Flatten()
    Dropout(0.3)
    Dense(num_classes, activation=softmax, kernel_regularizer=l1l2(l1=1e-5, l2=1e-4))
}

train {
    loss = categorical_crossentropy(from_logits=false)
    optimizer = adam(learning_rate=1e-3)
    schedule = warmup(steps=100, then=cosine(decay_steps=2**10))
    batch_size = 32
    epochs = 3
    metrics = [accuracy]
    data = digits
}
"""

MLP = """
# A small MLP on the iris data; comments and trailing commas are allowed.
hidden = 16

model iris_mlp {
    Input([4])
    Dense(hidden, relu, kernel_initializer=glorot_uniform)  # relu by position
    Dropout(0.1)
    Dense(hidden // 2, activation=leaky_relu(alpha=0.1), bias_initializer=zeros,)
    BatchNormalization(momentum=0.9, epsilon=1e-5)
    Dense(3, name="logits")
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = sgd(learning_rate=0.05, momentum=0.9, nesterov=true)
    schedule = step(step_size=50, gamma=0.5)
    clip_norm = 1.0
    batch_size = 16
    epochs = 20
    seed = 7
    metrics = [accuracy]
    validation_split = 0.2
    early_stopping = monitor(val_loss, patience=3)
    data = iris
}
"""

NESTED_BLOCKS = """
width = 2 * 4
rate = 0.25

block stage(filters, kernel=3, act=relu) {
    Conv2D(filters, kernel, padding=same, use_bias=false)
    BatchNormalization(center=true, scale=true)
    Activation(act)
}

block tower(filters) {
    repeat 2 { stage(filters) }
    AveragePooling2D(2, padding=same)
    SpatialDropout2D(rate)
}

model towers {
    Input([16, 16, 1])
    tower(width)
    tower(filters=width * 2)
    GlobalAveragePooling2D()
    Dense(10, activation=softmax, kernel_initializer=random_normal(0, 0.05))
}
"""

REGRESSION = """
model regression {
    Input([13])
    Rescaling(0.1, offset=-0.5)
    Dense(32, activation=tanh, kernel_regularizer=l2(1e-4))
    Dense(16, activation=elu(alpha=1.0), activity_regularizer=l1(1e-5))
    Dense(1)
}

train {
    loss = mse
    optimizer = adamw(learning_rate=3e-4, weight_decay=0.01)
    schedule = exponential(decay_steps=1000, decay_rate=0.9, staircase=true)
    clip_value = 0.5
    epochs = 5
    metrics = [mae, rmse]
    data = regression(n_samples=200, features=13, noise=0.05)
}
"""

INLINE_SEEDS = {"seed_cnn": SEED_CNN, "mlp": MLP, "nested_blocks": NESTED_BLOCKS, "regression": REGRESSION}
SPEC_FILES = sorted((REPO_ROOT / "specs").glob("*.nns"))
SEEDS: list[bytes] = ([textwrap.dedent(t).lstrip("\n").encode() for t in INLINE_SEEDS.values()]
                      + [p.read_bytes() for p in SPEC_FILES])

# Tokens of the language (and near misses) to insert or to replace a token with.
VOCAB = [
    b"(", b")", b"{", b"}", b"[", b"]", b"=", b",", b"**", b"//", b"/", b"*", b"+", b"-", b"%", b"0", b"1", b"3",
    b"-1", b"2.5", b"1e-3", b"1e999", b"2**4000", b"0.0", b'"x"', b"'relu'", b'"', b"'", b"#", b"\n", b"Dense",
    b"Dense(3)", b"Conv2D", b"Input", b"Input([8])", b"Flatten()", b"MaxPooling2D", b"Dropout", b"Dens", b"relu",
    b"softmax", b"same", b"valid", b"he_uniform", b"l2(1e-4)", b"repeat", b"repeat 2 {", b"block", b"model",
    b"train", b"true", b"false", b"none", b"name=", b"activation=", b"units=", b"loss", b"optimizer", b"adam",
    b"mse", b"digits", b"num_classes", b"conv_block", b"conv_block(8)", b"x = 1", b"model m { Input([4]) }",
]
JUNK = [b"\xff\xfe", b"\xff", b"\x00", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf", b"\x0c", b"\x0b", b"\r", b"\t",
        b"\x1b[0m", "\u2028".encode(), "é".encode(), "→".encode(), b"$", b"@", b"`", b"\\", b";", b"!", b"?"]

_TOKEN = re.compile(rb"""\s+|\#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\d+\.?\d*(?:[eE][+-]?\d+)?"""
                    rb"""|[A-Za-z_]\w*|\*\*|//|.""", re.S)


def tokens(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every token of ``data`` that is not whitespace."""
    return [m.span() for m in _TOKEN.finditer(data) if not m.group().isspace()]


# ---- mutations: (draw, data) -> data --------------------------------------------------------------
def _position(draw, data: bytes) -> int:
    return draw(st.integers(0, len(data)))


def delete_range(draw, data: bytes) -> bytes:
    i = _position(draw, data)
    return data[:i] + data[i + draw(st.integers(1, 30)):]


def duplicate_range(draw, data: bytes) -> bytes:
    i = _position(draw, data)
    j = min(len(data), i + draw(st.integers(1, 60)))
    return data[:j] + data[i:j] + data[j:]


def truncate(draw, data: bytes) -> bytes:
    return data[:_position(draw, data)]


def insert_junk(draw, data: bytes) -> bytes:
    i = _position(draw, data)
    junk = draw(st.sampled_from(JUNK) | st.binary(min_size=1, max_size=6))
    return data[:i] + junk + data[i:]


def delete_tokens(draw, data: bytes) -> bytes:
    toks = tokens(data)
    if not toks:
        return data
    k = draw(st.integers(0, len(toks) - 1))
    end = toks[min(len(toks) - 1, k + draw(st.integers(0, 3)))][1]
    return data[:toks[k][0]] + data[end:]


def swap_tokens(draw, data: bytes) -> bytes:
    toks = tokens(data)
    if len(toks) < 2:
        return data
    a, b = sorted(draw(st.lists(st.integers(0, len(toks) - 1), min_size=2, max_size=2, unique=True)))
    (s1, e1), (s2, e2) = toks[a], toks[b]
    return data[:s1] + data[s2:e2] + data[e1:s2] + data[s1:e1] + data[e2:]


def insert_tokens(draw, data: bytes) -> bytes:
    toks = tokens(data)
    boundaries = [0, len(data), *(s for s, _ in toks), *(e for _, e in toks)]
    i = draw(st.sampled_from(boundaries))
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3))
    sep = draw(st.sampled_from([b" ", b""]))
    return data[:i] + sep + sep.join(words) + sep + data[i:]


def replace_token(draw, data: bytes) -> bytes:
    toks = tokens(data)
    if not toks:
        return data
    s, e = draw(st.sampled_from(toks))
    return data[:s] + draw(st.sampled_from(VOCAB)) + data[e:]


MUTATIONS = [delete_range, duplicate_range, truncate, insert_junk, delete_tokens, swap_tokens, insert_tokens,
             replace_token]


@st.composite
def mutants(draw) -> bytes:
    """A valid seed spec with one to three mutations applied."""
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        data = draw(st.sampled_from(MUTATIONS))(draw, data)
    return data


# ---- the property ------------------------------------------------------------------------------------
class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Fail (rather than hang) when the body runs longer than ``seconds`` (where SIGALRM exists)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"compiling took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def compiles_or_reports(data: bytes) -> CompileResult | SpecError:
    """Compile ``data`` as the CLI does; check the outcome is a result or well-formed diagnostics."""
    try:
        with time_limit(SECONDS_PER_SPEC):
            result = compile_source(decode_source(PATH, data))
    except SpecError as err:
        check_diagnostics(err)
        return err
    assert isinstance(result, CompileResult)
    for warning in result.warnings:
        assert warning.severity == "warning"
        assert warning.render(result.source).startswith(PATH)
    spec = result.spec
    assert Spec.model_validate_json(spec.model_dump_json()) == spec
    assert render_summary(spec)
    return result


# Characters other than \n that str.splitlines() breaks lines at (the diagnostics' source excerpt uses it).
_OTHER_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def check_diagnostics(err: SpecError) -> None:
    assert err.diagnostics, "a SpecError without diagnostics"
    assert err.source is not None and err.source.path == PATH
    text = err.source.text
    lines = text.split("\n")  # line numbers count \n only, as the parser does
    for d in err.diagnostics:
        assert d.severity == "error"
        rendered = d.render(err.source)
        head = rendered.splitlines()[0]
        assert head.startswith(f"{PATH}:") and ": error: " in head, rendered
        if d.span is not None:
            assert d.span.path == PATH
            assert 1 <= d.span.line <= len(lines), rendered
            assert 1 <= d.span.column <= len(lines[d.span.line - 1]) + 1, rendered
            assert head.startswith(f"{PATH}:{d.span.line}:{d.span.column}: error: ")
            if not _OTHER_LINE_BREAKS.search(text):  # see test_errors.py::test_form_feed_...
                assert rendered.splitlines()[1] == f"{d.span.line:>4} | {lines[d.span.line - 1].expandtabs(1)}"
            assert "^" in rendered
        else:
            assert head.startswith(f"{PATH}: error: ")
    assert str(err)


FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", list(INLINE_SEEDS))
def test_inline_seeds_are_valid(name):
    data = textwrap.dedent(INLINE_SEEDS[name]).lstrip("\n").encode()
    assert isinstance(compiles_or_reports(data), CompileResult)


@settings(FUZZ, max_examples=350)
@given(mutants())
def test_mutated_specs_compile_or_report_errors(data):
    compiles_or_reports(data)


@settings(FUZZ, max_examples=60)
@given(st.lists(st.sampled_from(VOCAB) | st.sampled_from(JUNK), max_size=40), st.sampled_from([b" ", b"", b"\n"]))
def test_token_soup_compiles_or_reports_errors(words, sep):
    compiles_or_reports(sep.join(words))


@settings(FUZZ, max_examples=40)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_compile_or_report_errors(data):
    compiles_or_reports(data)


def test_every_prefix_of_the_seed_cnn():
    """Truncation at every token boundary: each prefix compiles or is reported, never crashes."""
    data = SEEDS[0]
    ends = sorted({0, len(data), *(e for _, e in tokens(data))})
    compiled = [i for i in ends if isinstance(compiles_or_reports(data[:i]), CompileResult)]
    model_end = data.index(b"}\n\ntrain") + 1
    assert compiled == [model_end, len(data) - 1, len(data)]  # without or with the train section


def test_deleting_any_one_token_of_the_seed_cnn():
    data = SEEDS[0]
    for s, e in tokens(data):
        compiles_or_reports(data[:s] + data[e:])


def test_mutations_change_the_text():
    """A sanity check of the mutators themselves on a fixed seed."""
    data = SEEDS[0]
    assert tokens(b"Dense(3, x=2**10)  # c\n") == [(0, 5), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
                                                     (12, 14), (14, 16), (16, 17), (19, 22)]

    @settings(FUZZ, max_examples=30)
    @given(st.data())
    def run(draw_data):
        mutation = draw_data.draw(st.sampled_from([delete_tokens, insert_junk, insert_tokens]))
        assert mutation(draw_data.draw, data) != data

    run()


# ---- the parser against Lark's own ------------------------------------------------------------------
# spec_lang runs its own lexer and LALR driver over the table Lark builds from grammar.lark; Lark's
# parser on the same grammar is the reference: the same texts are accepted, and a rejected text fails
# at the same token with the same expected terminals.
SYNTAX_VOCAB = ["model", "block", "train", "repeat", "true", "false", "m", "Dense", "x", "1", "2.5", "1e3", '"s"',
                "'t'", "(", ")", "[", "]", "{", "}", ",", "=", "+", "-", "*", "/", "//", "%", "**", "# c\n", "\n",
                "output", "residual", "shortcut", "parallel", "branch", ":"]
SYNTAX_SEEDS = ["x = 1", "model m { Dense(1) }", "block b(x, y=2) { repeat 2 { Dense(x) } }", "train { x = [1, (2, 3)] }",
                "model m { x = Input(1) residual { Dense(1) } shortcut { } parallel Add() { branch { } } }",
                "model m { output y = Add()(x, z) }", "train { x = {a: 1, 'b': [2]} }"]


@pytest.fixture(scope="module")
def lark_parser():
    from lark import Lark

    from spec_lang.parser import GRAMMAR

    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic")


def lark_verdict(lark_parser, text: str):
    """None when Lark's parser accepts ``text``, else (line, column or "$END", the terminals it accepts there)."""
    from lark.exceptions import UnexpectedToken

    try:
        lark_parser.parse(text)
    except UnexpectedToken as exc:
        where = "$END" if exc.token.type == "$END" else (exc.line, exc.column)
        return where, exc.accepts or exc.expected
    return None


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(SYNTAX_SEEDS), st.lists(st.tuples(st.integers(0, 200), st.sampled_from(SYNTAX_VOCAB)),
                                               max_size=4))
def test_parser_agrees_with_larks_parser(lark_parser, seed, insertions):
    from spec_lang.lalr import END
    from spec_lang.parser import _end_token, _tables

    words = seed.split(" ")
    for at, word in insertions:
        words.insert(at % (len(words) + 1), word)
    text = " ".join(words)
    lexer, driver = _tables()
    scan = lexer.scan(text, PATH, max_errors=20)
    assert not scan.errors  # the vocabulary has no unreadable characters
    callbacks = [(lambda items, pos: items) if name else None for name in driver.rule_names]
    outcome = driver.parse(scan.tokens, _end_token(scan.tokens), callbacks, max_errors=1, max_nesting=10**9)
    expected = lark_verdict(lark_parser, text)
    if expected is None:
        assert outcome.problems == [], text
    else:
        (problem,) = outcome.problems
        where = "$END" if problem.token.type == END else (problem.token.line, problem.token.column)
        assert (where, set(problem.expected)) == (expected[0], set(expected[1])), text
