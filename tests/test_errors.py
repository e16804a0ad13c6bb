"""Every malformed or meaningless spec is a ``SpecError`` with a precise diagnostic, never a crash.

Each table row is a spec (dedented; its first line is line 1), the line and column the first error
must point at, a fragment of its message and, where there is one, of its hint ("did you mean ...").
The rendered text must read ``bad.nns:LINE:COL: error: ...``, show the source line, and put the caret
under column COL. ``count`` is how many errors the spec must give: no cascades, nothing lost.

The CLI tests at the end check exit codes (0 clean, 1 warnings with --strict, 2 errors) and that a
user's mistake never shows a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler import __version__
from cli import app
from compiler.ir.spec import Spec
from compiler.pipeline import compile_file, compile_text
from spec_lang.diagnostics import EXCERPT_WIDTH, Diagnostic, SpecError

PATH = "bad.nns"
REPO_ROOT = Path(__file__).resolve().parent.parent


def spec(text: str) -> str:
    """A spec written indented in a triple-quoted string: dedented, its first line is line 1."""
    return textwrap.dedent(text).lstrip("\n")


def compile_error(text: str) -> SpecError:
    """The ``SpecError`` that compiling ``text`` must raise (any other exception fails the test)."""
    with pytest.raises(SpecError) as info:
        compile_text(text, PATH)
    err = info.value
    assert err.diagnostics, "a SpecError must carry at least one diagnostic"
    assert all(d.severity == "error" for d in err.diagnostics)
    return err


def assert_diagnostic(d: Diagnostic, err: SpecError, line: int, col: int, message: str,
                      hint: str | None = None) -> None:
    """``d`` renders as ``bad.nns:line:col: error: ...message...``, the source line, a caret at ``col``."""
    rendered = d.render(err.source).splitlines()
    assert rendered[0].startswith(f"{PATH}:{line}:{col}: error: "), "\n".join(rendered)
    assert message in rendered[0], "\n".join(rendered)
    source_line = err.source.text.split("\n")[line - 1].rstrip("\r").expandtabs(1)  # lines end at \n only
    gutter = f"{line:>4} | "
    caret = rendered[2]
    if len(source_line) <= EXCERPT_WIDTH:
        assert rendered[1] == gutter + source_line
        assert caret.index("^") == len(gutter) + col - 1, "\n".join(rendered)
    else:  # a long line is cut around the caret, "..." marking each cut
        shown = rendered[1].removeprefix(gutter)
        core = shown.removeprefix("...").removesuffix("...")
        assert len(core) == EXCERPT_WIDTH and core in source_line, "\n".join(rendered)
        assert shown[caret.index("^") - len(gutter)] == source_line[col - 1], "\n".join(rendered)
    if hint is not None:
        assert d.hint is not None and hint in d.hint, f"hint {d.hint!r} lacks {hint!r}"
        assert rendered[-1] == f"     = {d.hint}"


def case(id: str, text: str, line: int, col: int, message: str, hint: str | None = None, count: int | None = 1):
    """One table row; ``count=None`` where recovery after a syntax error may add follow-on errors."""
    return pytest.param(spec(text), line, col, message, hint, count, id=id)


TRAIN = """
    train {
        loss = mse
        optimizer = adam
    }
"""

# ---- syntax -------------------------------------------------------------------------------------
SYNTAX = [
    case("missing-close-paren", """
        model m {
            Input([8])
            Dense(3
            Dense(4)
        }
    """, 4, 5, "unexpected 'Dense'; expected one of ')', ','"),
    case("stray-close-paren", """
        model m {
            Input([8])
            Dense(3))
        }
    """, 3, 13, "unexpected ')'"),
    case("unterminated-string", """
        model m {
            Input([8])
            Dense(3, name="dense_out)
        }
    """, 3, 19, 'unterminated string: no closing " on this line'),
    case("unterminated-single-quoted-string", """
        model m {
            Input([8])
            Dense(3, name='out)
        }
    """, 3, 19, "unterminated string: no closing ' on this line"),
    case("dollar-sign", """
        model m {
            Input([8])
            Dense($3)
        }
    """, 3, 11, "unexpected '$': not part of the spec language"),
    case("non-ascii-operator", """
        model m {
            Input([8])
            Dense(3×4)
        }
    """, 3, 12, "unexpected '×': not part of the spec language"),
    case("nul-character", "model m {\n    Input([8])\n    Dense(\x003)\n}\n",
         3, 11, "unexpected character U+0000"),
    case("end-of-file-in-model", """
        model m {
            Input([8])
            Dense(3)
    """, 3, 13, "unexpected end of file; expected a layer line, repeat, residual, parallel, output or '}'"),
    case("end-of-file-in-call", "model m {\n    Input([8])\n    Dense(3,", 3, 13, "unexpected end of file; expected a value"),
    case("end-of-file-in-block", """
        block b() {
            Dense(3)
    """, 2, 13, "unexpected end of file"),
    case("string-as-keyword-name", """
        model m {
            Input([8])
            Dense(3, "activation"=relu)
        }
    """, 3, 26, "unexpected '='", "keyword arguments are written name=value"),
    case("setting-without-equals", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss mse
            optimizer = adam
        }
    """, 6, 10, "unexpected 'mse'; expected '='", count=None),
    case("model-without-name", """
        model {
            Input([8])
            Dense(3)
        }
    """, 1, 7, "unexpected '{'; expected a name", count=None),
    case("two-bad-characters-both-reported", """
        model m {
            Input([8])
            Dense($3)
            Dense(3)
            Dense(@3)
        }
    """, 3, 11, "unexpected '$'", count=2),
    case("nested-too-deeply", "x = " + "[" * 150 + "1" + "]" * 150 + "\n" + spec("""
        model m {
            Input([8])
            Dense(x)
        }
    """), 1, 103, "nested too deeply: more than 100 levels"),
]

# ---- unknown names, with "did you mean" -----------------------------------------------------------
UNKNOWN_NAMES = [
    case("unknown-layer", """
        model m {
            Input([8])
            Dens(3)
        }
    """, 3, 5, "unknown layer 'Dens'", "did you mean 'Dense'?"),
    case("layer-in-wrong-case", """
        model m {
            Input([8])
            dense(3)
        }
    """, 3, 5, "unknown layer 'dense'", "did you mean 'Dense'?"),
    case("activation-written-as-layer", """
        model m {
            Input([8])
            Dense(3)
            relu()
        }
    """, 4, 5, "unknown layer 'relu'", "an activation is a layer written Activation(relu)"),
    case("unknown-argument", """
        model m {
            Input([8])
            Dense(3, activaton=relu)
        }
    """, 3, 14, "Dense has no argument 'activaton'", "did you mean 'activation'?"),
    case("unknown-activation", """
        model m {
            Input([8])
            Dense(3, activation=rellu)
        }
    """, 3, 25, "Dense: argument 'activation': unknown activation 'rellu'", "did you mean 'relu'?"),
    case("unknown-activation-layer", """
        model m {
            Input([8])
            Dense(3)
            Activation(sofmax)
        }
    """, 4, 16, "unknown activation 'sofmax'", "did you mean 'softmax'?"),
    case("unknown-initializer", """
        model m {
            Input([8])
            Dense(3, kernel_initializer=he_unifrom)
        }
    """, 3, 33, "argument 'kernel_initializer': unknown initializer 'he_unifrom'", "did you mean 'he_uniform'?"),
    case("unknown-regularizer", """
        model m {
            Input([8])
            Dense(3, kernel_regularizer=l1_l2(l1=1e-5))
        }
    """, 3, 33, "unknown regularizer 'l1_l2'", "did you mean 'l1l2'?"),
    case("unknown-regularizer-no-close-match", """
        model m {
            Input([8])
            Dense(3, kernel_regularizer=l3(0.1))
        }
    """, 3, 33, "unknown regularizer 'l3'", "expected one of l1, l2, l1l2"),
    case("unknown-padding", """
        model m {
            Input([8, 8, 3])
            Conv2D(8, 3, padding=sam)
        }
    """, 3, 26, "Conv2D: argument 'padding': unknown value 'sam'", "did you mean 'same'?"),
    case("unknown-optimizer", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adamm
        }
    """, 7, 17, "setting 'optimizer': unknown optimizer 'adamm'", "did you mean 'adam'?"),
    case("optimizer-in-wrong-case", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = Adam(learning_rate=1e-3)
        }
    """, 7, 17, "unknown optimizer 'Adam'", "did you mean 'adam'?"),
    case("unknown-optimizer-argument", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam(learnig_rate=0.1)
        }
    """, 7, 22, "optimizer adam has no argument 'learnig_rate'", "did you mean 'learning_rate'?"),
    case("unknown-loss", """
        model m {
            Input([8])
            Dense(3, activation=softmax)
        }
        train {
            loss = sparse_categorical_crossentrpy
            optimizer = adam
        }
    """, 6, 12, "setting 'loss': unknown loss 'sparse_categorical_crossentrpy'",
         "did you mean 'sparse_categorical_crossentropy'?"),
    case("unknown-schedule", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            schedule = cosin(decay_steps=100)
        }
    """, 8, 16, "setting 'schedule': unknown schedule 'cosin'", "did you mean 'cosine'?"),
    case("unknown-schedule-argument", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            schedule = cosine(decay_step=100)
        }
    """, 8, 23, "schedule cosine has no argument 'decay_step'", "did you mean 'decay_steps'?"),
    case("unknown-data-set", """
        model m {
            Input([64])
            Dense(10)
        }
        train {
            loss = mse
            optimizer = adam
            data = digit
        }
    """, 8, 12, "setting 'data': unknown data set 'digit'", "did you mean 'digits'?"),
    case("unknown-train-setting", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            epoch = 3
        }
    """, 8, 5, "train section has no setting 'epoch'", "did you mean 'epochs'?"),
    case("unknown-metric", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            metrics = [acuracy]
        }
    """, 8, 16, "setting 'metrics': unknown metric 'acuracy'", "did you mean 'accuracy'?"),
    case("unknown-early-stopping-rule", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            early_stopping = monitr(val_loss)
        }
    """, 8, 22, "unknown early-stopping rule 'monitr'", "did you mean 'monitor'?"),
    case("undefined-constant", """
        num_classes = 10
        model m {
            Input([8])
            Dense(num_clases)
        }
    """, 4, 11, "Dense: argument 'units': expected a positive integer, received name 'num_clases'",
         "did you mean 'num_classes'?"),
    case("undefined-constant-no-close-match", """
        model m {
            Input([8])
            Dense(width)
        }
    """, 3, 11, "received name 'width'", "'width' is not a defined constant"),
    case("undefined-constant-in-arithmetic", """
        width = 8
        model m {
            Input([8])
            Dense(2 * widht)
        }
    """, 4, 15, "operator '*' needs numbers, received name 'widht'", "'widht' is not a defined constant"),
    case("block-parameter-misspelled", """
        block b(filters) {
            Dense(filters)
        }
        model m {
            Input([8])
            b(filter=3)
        }
    """, 6, 5, "block b: missing required parameter 'filters'", count=2),
]

# ---- wrong types ------------------------------------------------------------------------------------
TYPES = [
    case("string-for-int", """
        model m {
            Input([8])
            Dense("3")
        }
    """, 3, 11, "Dense: argument 'units': expected a positive integer, received string \"3\""),
    case("float-for-units", """
        model m {
            Input([8])
            Dense(64.0)
        }
    """, 3, 11, "argument 'units': expected a positive integer, received 64.0", "use // for integer division"),
    case("true-division-for-units", """
        model m {
            Input([8])
            Dense(128 / 2)
        }
    """, 3, 11, "received 64.0", "use // for integer division"),
    case("list-for-int", """
        model m {
            Input([8])
            Dense([3])
        }
    """, 3, 11, "expected a positive integer, received list [3]"),
    case("list-for-number", """
        model m {
            Input([8])
            Dropout([0.5])
        }
    """, 3, 13, "Dropout: argument 'rate': expected a number, received list [0.5]"),
    case("bool-for-int", """
        model m {
            Input([8])
            Dense(true)
        }
    """, 3, 11, "expected a positive integer, received true"),
    case("bool-for-number", """
        model m {
            Input([8])
            Rescaling(false)
        }
    """, 3, 15, "Rescaling: argument 'scale': expected a number, received false"),
    case("number-for-bool", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = binary_crossentropy(from_logits=1)
            optimizer = adam
        }
    """, 6, 44, "argument 'from_logits': expected true or false, received 1"),
    case("float-for-kernel-size", """
        model m {
            Input([8, 8, 3])
            Conv2D(8, 3.5)
        }
    """, 3, 15, "argument 'kernel_size': expected an integer or a list of 2 integers, received 3.5"),
    case("number-for-shape", """
        model m {
            Input(8)
            Dense(3)
        }
    """, 2, 11, "Input: argument 'shape': expected a list such as [28, 28, 1], received 8"),
    case("float-in-shape", """
        model m {
            Input([8.5])
            Dense(3)
        }
    """, 2, 12, "Input: argument 'shape': expected an integer, received 8.5"),
    case("float-batch-size", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            batch_size = 64 / 2
        }
    """, 8, 18, "setting 'batch_size': expected a positive integer, received 32.0", "use // for integer division"),
    case("string-for-epochs", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            epochs = "3"
        }
    """, 8, 14, "setting 'epochs': expected a positive integer, received string \"3\""),
    case("call-for-int", """
        model m {
            Input([8])
            Dense(Dense(3))
        }
    """, 3, 11, "expected a positive integer, received call Dense(...)"),
    case("arithmetic-on-string", """
        model m {
            Input([8])
            Dense(2 * "a")
        }
    """, 3, 15, "operator '*' needs numbers, received string \"a\""),
    case("number-for-layer-name", """
        model m {
            Input([8])
            Dense(3, name=3)
        }
    """, 3, 19, "Dense: argument 'name': expected a string, received 3"),
]

# ---- values out of range -----------------------------------------------------------------------------
RANGES = [
    case("dropout-rate-above-one", """
        model m {
            Input([8])
            Dropout(1.5)
        }
    """, 3, 13, "Dropout: argument 'rate': expected a value < 1.0, received 1.5"),
    case("negative-units", """
        model m {
            Input([8])
            Dense(-3)
        }
    """, 3, 11, "Dense: argument 'units': expected a value > 0, received -3"),
    case("zero-filters", """
        model m {
            Input([8, 8, 3])
            Conv2D(0, 3)
        }
    """, 3, 12, "Conv2D: argument 'filters': expected a value > 0, received 0"),
    case("zero-in-kernel-size", """
        model m {
            Input([8, 8, 3])
            Conv2D(8, [3, 0])
        }
    """, 3, 15, "argument 'kernel_size': expected a value > 0, received 0"),
    case("batchnorm-momentum", """
        model m {
            Input([8])
            BatchNormalization(momentum=2)
        }
    """, 3, 33, "BatchNormalization: argument 'momentum': expected a value <= 1.0, received 2.0"),
    case("negative-spatial-dropout", """
        model m {
            Input([8, 8, 3])
            SpatialDropout2D(-0.1)
        }
    """, 3, 22, "SpatialDropout2D: argument 'rate': expected a value >= 0.0, received -0.1"),
    case("negative-dimension", """
        model m {
            Input([8, -1])
            Flatten()
        }
    """, 2, 11, "Input: argument 'shape': expected a value > 0, received -1"),
    case("empty-shape", """
        model m {
            Input([])
            Dense(3)
        }
    """, 2, 11, "Input: argument 'shape': expected at least 1 item(s), received an empty list"),
    case("negative-learning-rate", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam(learning_rate=-0.1)
        }
    """, 7, 36, "optimizer adam: argument 'learning_rate': expected a value > 0.0, received -0.1"),
    case("zero-batch-size", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            batch_size = 0
        }
    """, 8, 18, "setting 'batch_size': expected a value > 0, received 0"),
    case("validation-split-one", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            validation_split = 1.0
        }
    """, 8, 24, "setting 'validation_split': expected a value < 1.0, received 1.0"),
    case("one-class-synthetic-data", """
        model m {
            Input([2])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            data = spirals(classes=1)
        }
    """, 8, 28, "data set spirals: argument 'classes': expected a value > 1, received 1"),
    case("arguments-to-bundled-data-set", """
        model m {
            Input([64])
            Dense(10)
        }
        train {
            loss = mse
            optimizer = adam
            data = digits(3)
        }
    """, 8, 12, "data set digits takes no arguments"),
    case("huge-integer-for-float", """
        model m {
            Input([8])
            Rescaling(2**4000)
        }
    """, 3, 15, "Rescaling: argument 'scale': number too large"),
]

# ---- shapes ----------------------------------------------------------------------------------------
SHAPES = [
    case("dense-on-image", """
        model m {
            Input([8, 8, 3])
            Dense(3)
        }
    """, 3, 5, "Dense expects a 1-D feature vector (batch, features), received shape (batch, 8, 8, 3); "
               "add Flatten() or GlobalAveragePooling2D() before it"),
    case("kernel-larger-than-input", """
        model m {
            Input([4, 4, 3])
            Conv2D(8, 5)
        }
    """, 3, 5, "Conv2D kernel spans 5 pixels along height but the input is only 4 (padding=valid)"),
    case("dilated-kernel-larger-than-input", """
        model m {
            Input([8, 8, 3])
            Conv2D(8, 3, dilation_rate=4)
        }
    """, 3, 5, "Conv2D kernel spans 9 pixels along height but the input is only 8"),
    case("conv-on-vector", """
        model m {
            Input([8])
            Conv2D(8, 3)
        }
    """, 3, 5, "Conv2D expects a 3-D image (batch, height, width, channels), received shape (batch, 8)"),
    case("strides-and-dilation", """
        model m {
            Input([8, 8, 3])
            Conv2D(8, 3, strides=2, dilation_rate=2)
        }
    """, 3, 5, "Conv2D cannot combine strides > 1 with dilation_rate > 1"),
    case("pooling-to-zero", """
        model m {
            Input([4, 4, 3])
            MaxPooling2D(2)
            MaxPooling2D(2)
            MaxPooling2D(2)
        }
    """, 5, 5, "MaxPooling2D window 2 is larger than the input's height 1: the output would be empty"),
    case("average-pooling-too-large", """
        model m {
            Input([8, 2, 3])
            AveragePooling2D(3)
        }
    """, 3, 5, "AveragePooling2D window 3 is larger than the input's width 2"),
    case("spatial-dropout-on-vector", """
        model m {
            Input([8])
            SpatialDropout2D(0.1)
        }
    """, 3, 5, "SpatialDropout2D expects a 3-D image (batch, height, width, channels), received shape "
               "(batch, 8); use Dropout for 1-D features"),
    case("global-pooling-on-vector", """
        model m {
            Input([8])
            GlobalAveragePooling2D()
        }
    """, 3, 5, "GlobalAveragePooling2D expects a 3-D image (batch, height, width, channels), received shape "
               "(batch, 8)"),
    case("shape-error-inside-block", """
        block head() {
            Dense(10)
        }
        model m {
            Input([8, 8, 3])
            head()
        }
    """, 2, 5, "Dense expects a 1-D feature vector"),
    case("too-many-parameters", """
        model m {
            Input([8])
            Dense(2**62)
        }
    """, 3, 5, "Dense is too large: its output or its parameters would hold more than 2**63 - 1 values"),
    case("input-too-large", """
        model m {
            Input([2**40, 2**40])
            Flatten()
        }
    """, 2, 5, "Input is too large"),
]

# ---- structure: names, constants, blocks, repeats, model and train sections ------------------------------
STRUCTURE = [
    case("duplicate-layer-name", """
        model m {
            Input([8])
            Dense(3, name=hidden)
            Dense(3, name="hidden")
        }
    """, 4, 5, "duplicate layer name 'hidden' (first used at line 3)"),
    case("argument-given-twice", """
        model m {
            Input([8])
            Dense(3, activation=relu, activation=tanh)
        }
    """, 3, 31, "Dense: argument 'activation' is given twice"),
    case("positional-and-keyword-for-one-argument", """
        model m {
            Input([8])
            Dense(3, units=4)
        }
    """, 3, 14, "Dense: argument 'units' is given twice"),
    case("too-many-positional-arguments", """
        model m {
            Input([8])
            Dense(3, relu, 4)
        }
    """, 3, 20, "Dense takes at most 2 positional arguments (units, activation), received 3",
         "pass the others as name=value"),
    case("positional-argument-to-keyword-only-layer", """
        model m {
            Input([8])
            BatchNormalization(0.9)
        }
    """, 3, 24, "BatchNormalization takes no positional arguments, received 1"),
    case("missing-required-argument", """
        model m {
            Input([8])
            Dense(activation=relu)
        }
    """, 3, 5, "Dense: missing required argument 'units'"),
    case("constant-defined-twice", """
        width = 8
        width = 16
        model m {
            Input([8])
            Dense(width)
        }
    """, 2, 1, "constant 'width' is defined twice (first at line 1)"),
    case("constant-defined-by-itself", """
        a = a + 1
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "constant 'a' is defined in terms of itself (a → a)"),
    case("constants-defined-by-each-other", """
        a = b + 1
        b = a * 2
        model m {
            Input([8])
            Dense(a)
        }
    """, 1, 5, "constant 'b' is defined in terms of itself (b → a → b)", count=2),
    case("division-by-zero", """
        x = 1 / 0
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "division by zero in '/'"),
    case("modulo-by-zero", """
        x = 5.0 % 0.0
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "division by zero in '%'"),
    case("division-by-zero-in-layer", """
        model m {
            Input([8])
            Dense(3 // (2 - 2))
        }
    """, 3, 11, "division by zero in '//'"),
    case("tower-of-powers", """
        x = 2**2**2**2**2
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "number too large"),
    case("float-overflow", """
        x = 10.0 ** 400
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "number too large"),
    case("power-of-a-huge-exponent", """
        x = 3 ** (2**1100)
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "number too large"),
    case("float-literal-overflow", """
        model m {
            Input([8])
            Rescaling(1e999)
        }
    """, 3, 15, "number too large"),
    case("integer-literal-beyond-python", "x = " + "9" * 5000 + "\n" + spec("""
        model m {
            Input([8])
            Dense(3)
        }
    """), 1, 5, "number too large"),
    case("negative-base-fractional-power", """
        x = (-8) ** 0.5
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "a negative number cannot be raised to a fractional power"),
    case("zero-to-negative-power", """
        x = 0 ** -1
        model m {
            Input([8])
            Dense(3)
        }
    """, 1, 5, "zero cannot be raised to a negative power"),
    case("block-recursive", """
        block b(n) {
            Dense(n)
            b(n)
        }
        model m {
            Input([8])
            b(3)
        }
    """, 3, 5, "block 'b' uses itself (b → b); blocks cannot be recursive"),
    case("blocks-mutually-recursive", """
        block ping() {
            pong()
        }
        block pong() {
            ping()
        }
        model m {
            Input([8])
            ping()
        }
    """, 5, 5, "block 'ping' uses itself (ping → pong → ping)"),
    case("block-missing-argument", """
        block b(n) {
            Dense(n)
        }
        model m {
            Input([8])
            b()
        }
    """, 6, 5, "block b: missing required parameter 'n'"),
    case("block-unknown-argument", """
        block b(n, act=relu) {
            Dense(n, activation=act)
        }
        model m {
            Input([8])
            b(3, m=4)
        }
    """, 6, 10, "block b has no parameter 'm'", "its parameters: n, act"),
    case("block-too-many-arguments", """
        block b(n) {
            Dense(n)
        }
        model m {
            Input([8])
            b(3, 4)
        }
    """, 6, 10, "block b takes 1 argument, received 2"),
    case("block-bad-default", """
        block b(n=1/0) {
            Dense(n)
        }
        model m {
            Input([8])
            b()
        }
    """, 1, 11, "division by zero in '/'"),
    case("block-named-like-a-layer", """
        block Dense() {
            Flatten()
        }
        model m {
            Input([8])
            Flatten()
        }
    """, 1, 7, "block 'Dense' has the name of a layer kind", "rename the block"),
    case("block-defined-twice", """
        block b() {
            Flatten()
        }
        block b() {
            Flatten()
        }
        model m {
            Input([8])
            b()
        }
    """, 4, 7, "block 'b' is defined twice (first at line 1)"),
    case("bad-argument-inside-block", """
        block b(n) {
            Dense(n)
        }
        model m {
            Input([8])
            b(-1)
        }
    """, 2, 11, "Dense (in block b): argument 'units': expected a value > 0, received -1"),
    case("repeat-fractional-count", """
        model m {
            Input([8])
            repeat 2.5 { Dense(3) }
        }
    """, 3, 12, "repeat: expected a whole number from 1 to 10000, received 2.5"),
    case("repeat-zero-times", """
        model m {
            Input([8])
            repeat 0 { Dense(3) }
        }
    """, 3, 12, "repeat: expected a whole number from 1 to 10000, received 0"),
    case("repeat-undefined-count", """
        model m {
            Input([8])
            repeat n { Dense(3) }
        }
    """, 3, 12, "repeat: expected a whole number from 1 to 10000, received name 'n'"),
    case("repeat-bool-count", """
        model m {
            Input([8])
            repeat true { Dense(3) }
        }
    """, 3, 12, "received true"),
    case("model-expands-too-far", """
        model m {
            Input([8])
            repeat 10000 { repeat 10000 { Dense(3) } }
        }
    """, 1, 1, "the model expands to more than 10,000 layers"),
    case("empty-model", """
        model m {
        }
    """, 1, 7, "model 'm' has no layers", "start it with Input(shape=[...])"),
    case("model-of-only-an-input", """
        model m {
            Input([8])
        }
    """, 1, 7, "model 'm' has only its Input; add layers"),
    case("model-without-input", """
        model m {
            Dense(3)
            Dense(2)
        }
    """, 2, 5, "model 'm' must start with Input(shape=[...])"),
    case("input-not-first", """
        model m {
            Dense(3)
            Input([8])
        }
    """, 2, 5, "model 'm' must start with Input(shape=[...])"),
    case("two-inputs", """
        model m {
            Input([8])
            Dense(3)
            Input([8])
        }
    """, 2, 5, "a model with several inputs names each one: its name is its data key", count=2),
    case("two-models", """
        model a {
            Input([8])
            Dense(3)
        }
        model b {
            Input([8])
            Dense(3)
        }
    """, 5, 7, "a spec holds one model; this is a second"),
    case("two-train-sections", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
        }
        train {
            loss = mae
            optimizer = sgd
        }
    """, 9, 1, "a spec holds one train section; this is a second"),
    case("missing-loss", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            optimizer = adam
        }
    """, 5, 1, "train section: missing required setting 'loss'"),
    case("missing-optimizer", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
        }
    """, 5, 1, "train section: missing required setting 'optimizer'"),
    case("clip-norm-and-clip-value", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            clip_norm = 1.0
            clip_value = 0.5
        }
    """, 5, 1, "train section: give clip_norm or clip_value, not both"),
    case("setting-given-twice", """
        model m {
            Input([8])
            Dense(3)
        }
        train {
            loss = mse
            optimizer = adam
            epochs = 3
            epochs = 4
        }
    """, 9, 14, "train section: setting 'epochs' is given twice"),
]

ALL_CASES = SYNTAX + UNKNOWN_NAMES + TYPES + RANGES + SHAPES + STRUCTURE


@pytest.mark.parametrize("text, line, col, message, hint, count", ALL_CASES)
def test_error_is_reported_at_its_position(text, line, col, message, hint, count):
    err = compile_error(text)
    rendered = str(err)
    if count is not None:
        assert len(err.diagnostics) == count, rendered
    assert_diagnostic(err.diagnostics[0], err, line, col, message, hint)
    assert "Traceback" not in rendered


def test_every_case_has_a_unique_id():
    ids = [p.id for p in ALL_CASES]
    assert len(ids) == len(set(ids))


# ---- errors without a position --------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    pytest.param("", id="empty-file"),
    pytest.param("# only a comment\n", id="only-a-comment"),
    pytest.param("width = 8\nblock b() {\n    Dense(3)\n}\n", id="constants-and-blocks-only"),
    pytest.param(spec(TRAIN), id="train-section-only"),
])
def test_spec_without_model(text):
    err = compile_error(text)
    assert len(err.diagnostics) == 1
    d = err.diagnostics[0]
    assert d.span is None
    assert d.render(err.source) == f"{PATH}: error: the spec defines no model\n  = add: model name {{ Input(shape=[...]) ... }}"


@pytest.mark.parametrize("what, text", [
    ("constants", "".join(f"c{i} = c{i + 1}\n" for i in range(1200)) + "c1200 = 3\n"),
    ("blocks", "".join(f"block b{i}() {{\n    b{i + 1}()\n}}\n" for i in range(1200)) + "block b1200() {\n    Dense(3)\n}\n"),
])
def test_very_long_chains_are_errors_not_recursion_errors(what, text):
    err = compile_error(text + "model m {\n    Input([8])\n    " + ("Dense(c0)" if what == "constants" else "b0()") + "\n}\n")
    assert any("too deeply" in d.message for d in err.diagnostics)


# ---- every error is reported, once, in source order ------------------------------------------------
def test_three_bad_layers_give_three_errors_in_source_order():
    err = compile_error(spec("""
        model m {
            Input([8])
            Dens(3)
            Dropout(1.5)
            Dense(3, activaton=relu)
        }
    """))
    assert [(d.span.line, d.span.column) for d in err.diagnostics] == [(3, 5), (4, 13), (5, 14)]
    assert_diagnostic(err.diagnostics[0], err, 3, 5, "unknown layer 'Dens'", "did you mean 'Dense'?")
    assert_diagnostic(err.diagnostics[1], err, 4, 13, "Dropout: argument 'rate': expected a value < 1.0")
    assert_diagnostic(err.diagnostics[2], err, 5, 14, "Dense has no argument 'activaton'", "did you mean 'activation'?")


def test_errors_in_constants_layers_and_training_are_all_reported():
    err = compile_error(spec("""
        x = 1 / 0
        model m {
            Input([8])
            Dens(3)
            Dense(3, activation=rellu, kernel_initializer=he_unifrom)
        }
        train {
            loss = mse2
            optimizer = adam(learning_rate=-1)
            epoch = 3
        }
    """))
    expected = [
        (1, 5, "division by zero"),
        (4, 5, "unknown layer 'Dens'"),
        (5, 25, "unknown activation 'rellu'"),
        (5, 51, "unknown initializer 'he_unifrom'"),
        (8, 12, "unknown loss 'mse2'"),
        (9, 36, "argument 'learning_rate': expected a value > 0.0"),
        (10, 5, "train section has no setting 'epoch'"),
    ]
    assert len(err.diagnostics) == len(expected), str(err)
    for d, (line, col, message) in zip(err.diagnostics, expected):
        assert_diagnostic(d, err, line, col, message, d.hint)


def test_an_error_repeated_or_in_a_reused_block_is_reported_once():
    err = compile_error(spec("""
        block b() {
            Dens(3)
        }
        model m {
            Input([8])
            repeat 3 { b() }
            b()
            repeat 2 { Dropout(2) }
        }
    """))
    assert [(d.span.line, d.span.column) for d in err.diagnostics] == [(2, 5), (8, 24)], str(err)


def test_errors_in_a_block_defined_after_the_model_come_in_source_order():
    err = compile_error(spec("""
        model m {
            Input([8])
            b()
            Dens(1)
        }
        block b() {
            Dropot(0.5)
        }
    """))
    assert [(d.span.line, d.message) for d in err.diagnostics] == [
        (4, "unknown layer 'Dens'"), (7, "unknown layer 'Dropot' (in block b)")]


def test_different_errors_from_one_block_line_are_all_kept():
    err = compile_error(spec("""
        block b(n) {
            Dense(n)
        }
        model m {
            Input([8])
            b(-1)
            b(0)
        }
    """))
    assert [d.message.rsplit(" ", 1)[-1] for d in err.diagnostics] == ["-1", "0"]


def test_syntax_errors_on_several_lines_are_all_reported():
    err = compile_error(spec("""
        model m {
            Input([8])
            Dense(3 $)
            Dense(3)
            Dense(3) ?
            Dense(3)
        }
    """))
    assert [(d.span.line, d.span.column) for d in err.diagnostics] == [(3, 13), (5, 14)]


def test_spec_error_str_renders_every_diagnostic():
    err = compile_error(spec("""
        model m {
            Input([8])
            Dens(3)
            Dropout(1.5)
        }
    """))
    text = str(err)
    assert text.count(f"{PATH}:") == 2
    assert text.count("^") == 2


def test_tabs_and_crlf_keep_columns():
    err = compile_error("model m {\r\n\tInput([8])\r\n\tDens(3)\r\n}\r\n")
    assert_diagnostic(err.diagnostics[0], err, 3, 2, "unknown layer 'Dens'", "did you mean 'Dense'?")


# ---- the CLI ------------------------------------------------------------------------------------------
CLEAN = spec("""
    model digits {
        Input([64])
        Rescaling(1 / 16)
        Dense(32, activation=relu)
        Dense(10)
    }
    train {
        loss = sparse_categorical_crossentropy(from_logits=true)
        optimizer = adam(learning_rate=1e-3)
        metrics = [accuracy]
        data = digits
    }
""")

WITH_WARNING = spec("""
    model m {
        Input([8, 8, 3])
        Conv2D(8, 3)
        BatchNormalization()
        Activation(relu)
        Flatten()
        Dense(2, activation=softmax)
    }
    train {
        loss = categorical_crossentropy
        optimizer = adam
    }
""")

BAD = spec("""
    model m {
        Input([8])
        Dens(3)
    }
""")

runner = CliRunner()


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def nnspec(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point (``cli:main``) in a fresh interpreter."""
    code = "import sys; from cli import main; sys.argv[0] = 'nnspec'; main()"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("NNSPEC_DEBUG", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_check_bad_spec_exits_2_with_caret(tmp_path):
    path = write(tmp_path, "bad.nns", BAD)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:5: error: unknown layer 'Dens'" in result.stderr
    assert "   3 |     Dens(3)\n     |     ^~~~\n     = did you mean 'Dense'?" in result.stderr
    assert f"{path}: 1 error" in result.stderr
    assert "Traceback" not in result.output


def test_cli_check_bad_spec_in_a_subprocess(tmp_path):
    path = write(tmp_path, "bad.nns", BAD)
    proc = nnspec("check", str(path))
    assert proc.returncode == 2
    assert "^~~~" in proc.stderr and "did you mean 'Dense'?" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_missing_file_exits_2(tmp_path):
    path = tmp_path / "nowhere.nns"
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}: error: cannot read spec file: No such file or directory" in result.stderr
    assert "Traceback" not in result.output


def test_cli_non_utf8_file_names_the_byte(tmp_path):
    path = write(tmp_path, "latin1.nns", "model m {\n    Input([8])\n    Dense(3)  # caf".encode() + b"\xe9\n}\n")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:20: error: spec file is not valid UTF-8: byte 0xe9 cannot be decoded" in result.stderr
    assert "Traceback" not in result.output


def test_cli_strict_exits_1_on_warnings(tmp_path):
    path = write(tmp_path, "warn.nns", WITH_WARNING)
    relaxed = runner.invoke(app, ["check", str(path)])
    assert relaxed.exit_code == 0
    assert ": warning: " in relaxed.stderr
    strict = runner.invoke(app, ["check", "--strict", str(path)])
    assert strict.exit_code == 1
    assert ": warning: " in strict.stderr


def test_cli_clean_spec_exits_0_with_summary(tmp_path):
    path = write(tmp_path, "clean.nns", CLEAN)
    result = runner.invoke(app, ["check", "--strict", str(path)])
    assert result.exit_code == 0, result.output
    assert 'Model: "digits"' in result.stdout
    assert "Total params: 2,410" in result.stdout  # 64*32+32 + 32*10+10
    assert result.stderr == ""


def test_cli_check_reports_every_file(tmp_path):
    good = write(tmp_path, "a_good.nns", CLEAN)
    bad = write(tmp_path, "b_bad.nns", BAD)
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert str(good) in result.stdout and "Total params" in result.stdout
    assert f"{bad}:3:5: error:" in result.stderr


def test_cli_check_json_prints_the_ir(tmp_path):
    path = write(tmp_path, "clean.nns", CLEAN)
    result = runner.invoke(app, ["check", "--json", str(path)])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert Spec.model_validate(document) == compile_file(str(path)).spec


def test_cli_compile_writes_ir_that_reads_back_equal(tmp_path):
    path = write(tmp_path, "clean.nns", CLEAN)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["compile", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert Spec.model_validate_json(out.read_text()) == compile_file(str(path)).spec


def test_cli_compile_bad_spec_exits_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, "bad.nns", BAD)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["compile", str(path), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
    assert "error: unknown layer 'Dens'" in result.stderr


def test_cli_huge_model_is_an_error_not_an_internal_error(tmp_path):
    path = write(tmp_path, "huge.nns", "model m {\n    Input([2**100, 2**100, 3])\n    Flatten()\n    Dense(2)\n}\n")
    proc = nnspec("check", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr
    assert f"{path}:2:5: error: Input is too large" in proc.stderr


def test_cli_schema_prints_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Spec"
    assert "layers" in schema["properties"] and "$defs" in schema


def test_cli_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"nnspec {__version__}"


def test_cli_help_shows_examples():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    assert "Examples:" in top.stdout and "nnspec check specs/" in top.stdout
    check = runner.invoke(app, ["check", "--help"])
    assert check.exit_code == 0
    assert "Examples:" in check.stdout and "nnspec check --strict" in check.stdout


def test_cli_check_does_not_import_torch_or_tensorflow(tmp_path):
    path = write(tmp_path, "clean.nns", CLEAN)
    code = textwrap.dedent(f"""
        import sys
        from cli import main
        sys.argv = ["nnspec", "check", {str(path)!r}]
        try:
            main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras", "jax"))
        assert not heavy, heavy
        print("light")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("light")


def test_end_of_file_is_placed_on_lines_as_the_parser_counts_them():
    text = "model m {\x0c    Input([8])"  # a form feed is whitespace, not a line break
    err = compile_error(text)
    assert [(d.span.line, d.span.column) for d in err.diagnostics] == [(1, len(text) + 1)]
    assert err.diagnostics[0].message.startswith("unexpected end of file")


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\u2028", "\x85"])
def test_form_feed_and_other_line_separators_keep_the_excerpt_right(separator):
    err = compile_error(f"# page{separator}break\nmodel m {{\n    Input([8])\n    Dens(3)\n}}\n")
    assert_diagnostic(err.diagnostics[0], err, 4, 5, "unknown layer 'Dens'")


def test_positional_argument_after_keyword_is_an_error():
    err = compile_error("model m {\n    Input([4])\n    Dense(units=3, relu)\n}\n")
    assert_diagnostic(err.diagnostics[0], err, 3, 20, "positional argument follows keyword argument")


def test_bias_initializer_must_suit_a_vector():
    err = compile_error("model m {\n    Input([4])\n    Dense(3, bias_initializer=orthogonal)\n}\n")
    assert_diagnostic(err.diagnostics[0], err, 3, 31, "orthogonal")


def test_check_on_a_directory_without_specs_fails(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert "no spec files" in result.output
