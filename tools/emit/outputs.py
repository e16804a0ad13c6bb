"""The parts of an emitted program that differ for a model with several inputs or outputs (``Spec.multi_io``):
data as dicts of arrays by key, a loss per output with ``loss_weights``, metrics and history per output
(``compiler.semantics.outputs`` states the rules; ``runtime.data`` the data).

- data: ``load_data`` returns (x_train, y_train, x_val, y_val) as dicts of arrays — x by Input name, y by
  output key — from ``npz(...)``/``csv(...)`` named arrays or the generated ``two_tasks``, each array
  reshaped and labelled as ``nnspec train`` does, split with one permutation for every array;
- PyTorch: ``data_losses`` (each output's loss, its softmax/sigmoid fused with its cross-entropy as Keras
  does), ``total_loss`` = Σ weight · loss + penalties, ``train_step``/``evaluate``/``train`` over dicts, the
  history named as nnspec and Keras 3 name it (``loss``, ``<key>_loss``, ``<key>_<metric>``, ``val_...``);
- Keras: ``compile(loss=[...], loss_weights=[...], metrics=[[...], ...])`` in output order and ``fit`` with y as
  a list; Keras names the history by the output layers (``dense_1_loss``), so an early-stopping monitor
  written with an output key is translated to that name.

Not written yet (an ``EmitError`` says so): a Normalization that adapts to the data in such a model.
"""

from __future__ import annotations

import inspect

from tools.emit.code import Code, identifier, literal, quote
from tools.emit.common import (DataFile, EmitError, data_file_constant, early_stopping_args, format_labels,
                               torch_epoch_end, torch_fit_end)
from compiler.ir.spec import Spec
from compiler.ir.training import NamedFileData, TwoTasksData
from compiler.semantics import losses
from compiler.semantics import metrics as metric_rules
from compiler.semantics.losses import loss_input
from compiler.semantics.outputs import heads, is_several


# ---- the fused logits, one attribute per fused output ----------------------------------------------------------
def logits_attributes(spec: Spec) -> dict[str, str]:
    """The layer whose final activation each fused output's loss undoes -> the model attribute holding its
    logits: ``logits`` when one output is fused (as a one-output program has it), ``logits_<key>`` when several."""
    fused = {}
    for head in heads(spec):
        reads = loss_input(spec, head.layer, head.loss)
        if reads.fused:
            fused[spec.layers[reads.fused_at].name] = head.key
    if len(fused) <= 1:
        return {layer: "logits" for layer in fused}
    taken: set[str] = set()
    return {layer: identifier(f"logits_{key}", taken) for layer, key in fused.items()}


# ---- data ----------------------------------------------------------------------------------------------------
def data_section(code: Code, spec: Spec, data_file: DataFile | None) -> None:
    """``load_data`` (and a label function per output, ``split``) giving dicts of arrays by key."""
    t = spec.training
    data = t.data
    if any(layer.adapts for layer in spec.layers):
        raise EmitError("a Normalization that learns its statistics from the data in a model of several inputs or "
                        "outputs is not written into programs yet; give it mean= and variance=, or train with "
                        "nnspec train")
    input_keys, output_keys = spec.input_key_names, spec.output_key_names
    code(f"INPUTS = {literal(tuple(input_keys))}  # the Input layers: the keys of x",
         f"OUTPUTS = {literal(tuple(output_keys))}  # the output keys, in the model's order: the keys of y")
    label_functions = {}
    for head in heads(spec):
        name = identifier(f"format_{head.key}", set(label_functions.values()))
        label_functions[head.key] = name
        code.blank(2)
        format_labels(code, head.loss.kind, tuple(spec.layers[head.layer].output_shape), general=True, name=name)
    code.blank(2)
    file_data = data is None or isinstance(data, NamedFileData)
    if file_data:
        data_file_constant(code, data, data_file, "pass an .npz with an array per input and output key")
        code.blank(2)
    signature = "def load_data(path=DATA_FILE, dtype=DTYPE):" if file_data else "def load_data(dtype=DTYPE):"
    with code.block(signature):
        code.docstring("(x_train, y_train, x_val, y_val), each a dict of arrays: x by input (INPUTS), y by output\n"
                       "(OUTPUTS), shaped and labelled as nnspec trains on them; "
                       + ("shuffled once with SEED, the last VALIDATION_SPLIT held out." if t.validation_split
                          else "no validation split."))
        if data is None:
            with code.block("if path is None:"):
                code('raise SystemExit("the spec names no data set: pass --data FILE.npz")')
            with code.block("with np.load(path, allow_pickle=False) as archive:"):
                code("x = {key: archive[key] for key in INPUTS}", "y = {key: archive[key] for key in OUTPUTS}")
        elif isinstance(data, NamedFileData):
            _read_named(code, data, input_keys, output_keys)
        elif isinstance(data, TwoTasksData):
            _two_tasks(code, data)
        else:
            raise EmitError(f"data set {data.kind} has one array x and one y; a model with several inputs or outputs "
                            "needs named arrays: npz(...), csv(...) or two_tasks")
        with code.block("x = {"):
            for layer in spec.input_layers:
                shape = ", ".join(["-1", *map(str, layer.output_shape)])
                code(f"{literal(layer.name)}: np.asarray(x[{literal(layer.name)}]).reshape({shape}).astype(dtype),")
        code("}")
        with code.block("y = {"):
            for key in output_keys:
                code(f"{literal(key)}: {label_functions[key]}(np.asarray(y[{literal(key)}]), dtype),")
        code("}")
        code("return split(x, y)")
    code.blank(2)
    with code.block("def rows(arrays, index):"):
        code.docstring("The same rows of every array of a dict.")
        code("return {key: a[index] for key, a in arrays.items()}")
    code.blank(2)
    with code.block("def split(x, y):"):
        if t.validation_split:
            code.docstring("nnspec's validation split, the same rows of every array: shuffle once with SEED, hold out\n"
                           "the last VALIDATION_SPLIT.")
            code("n = len(y[OUTPUTS[0]])",
                 "n_train = n - int(round(n * VALIDATION_SPLIT))",
                 "order = np.random.default_rng(SEED).permutation(n)",
                 "x, y = rows(x, order), rows(y, order)",
                 "return rows(x, slice(None, n_train)), rows(y, slice(None, n_train)), "
                 "rows(x, slice(n_train, None)), rows(y, slice(n_train, None))")
        else:
            code.docstring("No validation split in the spec: every sample trains, in file order.")
            code("return x, y, rows(x, slice(0)), rows(y, slice(0))")


def _read_named(code: Code, data: NamedFileData, input_keys, output_keys) -> None:
    def key_of(group, keys):
        return group.key or keys[0]

    if data.kind == "npz":
        with code.block("with np.load(path, allow_pickle=False) as archive:"):
            code("x = {" + ", ".join(f"{literal(key_of(g, input_keys))}: archive[{literal(g.names[0])}]"
                                     for g in data.x) + "}")
            code("y = {" + ", ".join(f"{literal(key_of(g, output_keys))}: archive[{literal(g.names[0])}]"
                                     for g in data.y) + "}")
        return
    with code.block('with open(path, newline="", encoding="utf-8-sig") as f:'):
        code("header = [cell.strip() for cell in next(csv.reader(f))]")
    code.call("np.loadtxt", ["path", 'delimiter=","', "skiprows=1", "ndmin=2", 'encoding="utf-8-sig"'],
              prefix="values = ")
    code("column = {name: values[:, i] for i, name in enumerate(header)}")

    def columns(group) -> str:
        if len(group.names) == 1:
            return f"column[{literal(group.names[0])}]"
        return "np.stack([" + ", ".join(f"column[{literal(n)}]" for n in group.names) + "], axis=1)"
    code("x = {" + ", ".join(f"{literal(key_of(g, input_keys))}: {columns(g)}" for g in data.x) + "}")
    code("y = {" + ", ".join(f"{literal(key_of(g, output_keys))}: {columns(g)}" for g in data.y) + "}")


def _two_tasks(code: Code, data: TwoTasksData) -> None:
    """``runtime.data.generate_two_tasks``, written out."""
    code("digits = load_digits()",
         "images, labels = np.asarray(digits.data), np.asarray(digits.target)",
         "rng = np.random.default_rng(SEED)",
         f"order = rng.permutation(len(labels))[:{data.n_samples}]",
         "images, labels = images[order], labels[order]",
         "grid = images.reshape(-1, 8, 8)",
         "ink = images.mean(axis=1) / 16  # the mean pixel value / 16",
         "total = np.maximum(grid.sum(axis=(1, 2)), 1e-12)",
         "row = (grid.sum(axis=2) * np.arange(8)).sum(axis=1) / total / 8  # the ink's centre, rows and columns",
         "col = (grid.sum(axis=1) * np.arange(8)).sum(axis=1) / total / 8",
         f"noise = {literal(float(data.noise))}",
         "meta = np.stack([ink, row, col], axis=1) + noise * rng.standard_normal((len(labels), 3))",
         'x = {"image": images.reshape(-1, 8, 8, 1), "meta": meta}',
         'y = {"digit": labels.astype(np.int64), "ink": ink.reshape(-1, 1)}')


def data_imports(spec: Spec) -> list[str]:
    return ["from sklearn.datasets import load_digits"] if isinstance(spec.training.data, TwoTasksData) else []


def needs_csv(spec: Spec) -> bool:
    data = spec.training.data
    return isinstance(data, NamedFileData) and data.kind == "csv"


def main_lines(body: Code, spec: Spec, model: str) -> None:
    """``main()`` for named data: as ``tools.emit.common.emit_main``, samples counted in the first output's array."""
    data = spec.training.data
    file_data = data is None or isinstance(data, NamedFileData)
    with body.block("def main():"):
        body.call("argparse.ArgumentParser", [f"description={literal(f'Train {spec.name} (emitted by nnspec).')}"],
                  prefix="parser = ")
        body('parser.add_argument("--epochs", type=int, default=EPOCHS)')
        body('parser.add_argument("--dtype", choices=["float32", "float64"], default=DTYPE)')
        if file_data:
            body(f'parser.add_argument("--data", default=DATA_FILE, help="the {data.kind if data else "npz"} file")')
        body('parser.add_argument("--save", metavar="FILE.npz", help="write the trained weights")')
        body("args = parser.parse_args()")
        body(f"model = {model}")
        body("data = load_data(args.data, dtype=args.dtype)" if file_data else "data = load_data(dtype=args.dtype)")
        body('print(f"{len(data[1][OUTPUTS[0]])} training samples, {len(data[3][OUTPUTS[0]])} for validation")')
        body("train(model, data, epochs=args.epochs)")
        with body.block("if args.save:"):
            body("np.savez(args.save, **get_weights(model))")


# ---- PyTorch: losses, metrics, steps, the loop -------------------------------------------------------------------
def _formulas(spec: Spec) -> list:
    """(head, formula, reads logits, logits attribute or None) per output."""
    attrs = logits_attributes(spec)
    out = []
    for head in heads(spec):
        reads = loss_input(spec, head.layer, head.loss)
        attr = attrs[spec.layers[reads.fused_at].name] if reads.fused else None
        out.append((head, losses.formula(head.loss.kind, reads.logits), reads.logits, attr))
    return out


def torch_losses(body: Code, spec: Spec, regularized: bool, activity: bool) -> None:
    """The loss formulas (nnspec's own source), ``LOSS_WEIGHTS``, ``data_losses`` and ``total_loss``."""
    rows = _formulas(spec)
    needed, pending = [], []
    for _, f, _, _ in rows:
        if f not in needed:
            needed.append(f)
            pending.append(f)
    while pending:  # the helpers a function calls, and theirs
        source = inspect.getsource(pending.pop())
        for helper in losses.HELPERS:
            if helper not in needed and f"{helper.__name__}(" in source:
                needed.append(helper)
                pending.append(helper)
    if losses.clip in needed:
        body(f"EPSILON = {losses.EPSILON!r}  # Keras' clipping of probabilities in cross-entropies")
        body.blank(2)
    formulas = {f for _, f, _, _ in rows}
    for fn in sorted(needed, key=lambda f: (f in formulas, f.__name__)):
        body(*inspect.getsource(fn).rstrip().splitlines())
        body.blank(2)
    body("LOSS_WEIGHTS = {" + ", ".join(f"{literal(h.key)}: {literal(float(h.weight))}" for h, _, _, _ in rows)
         + "}  # Keras' loss_weights: the total is Σ weight · loss")
    body.blank(2)
    with body.block("def data_losses(model, outputs, y):"):
        words = "; ".join(f"{h.key}: {h.loss.kind} of {'the logits' if logits else 'the output'}"
                          for h, _, logits, _ in rows)
        body.docstring(f"Each output's loss (a tensor), as Keras computes it: {words}.")
        with body.block("return {"):
            for head, formula, _, attr in rows:
                z = f"model.{attr}" if attr else f"outputs[{head.index}]"
                body(f"{literal(head.key)}: {formula.__name__}(torch, {z}, y[{literal(head.key)}]),")
        body("}")
    body.blank(2)
    with body.block("def total_loss(model, outputs, y):"):
        body.docstring("The loss Keras minimises and reports — Σ weight · loss over the outputs"
                       + (", plus the regularization penalties" if regularized or activity else "")
                       + " — and each output's loss.")
        body("parts = data_losses(model, outputs, y)",
             "total = sum(LOSS_WEIGHTS[key] * parts[key] for key in OUTPUTS)")
        extra = (["model.penalties()"] if regularized else []) + (["model.activity_penalty"] if activity else [])
        body(f"return {' + '.join(['total', *extra])}, parts")


def _metric_expr(head, metric: str, units: int, out: str, y: str) -> str:
    """A metric of one output as NumPy source (``compiler.semantics.metrics``' rule for that output's loss)."""
    if metric == "accuracy":
        kind = metric_rules.accuracy_kind(head.loss.kind, units, head.loss.kind == "sparse_categorical_crossentropy")
        if kind == "binary":
            return f"float(np.mean(({out} > {metric_rules.binary_threshold(head.loss.from_logits)!r}) == ({y} > 0.5)))"
        if kind == "sparse":
            return f"float(np.mean({out}.argmax(axis=-1) == {y}.reshape(-1)))"
        return f"float(np.mean({out}.argmax(axis=-1) == {y}.argmax(axis=-1)))"
    if metric == "mse":
        return f"float(np.mean(({out} - {y}) ** 2))"
    if metric == "mae":
        return f"float(np.mean(np.abs({out} - {y})))"
    return f"float(np.sqrt(np.mean(({out} - {y}) ** 2)))"


def torch_metrics(body: Code, spec: Spec) -> None:
    """``metrics(outputs, y)``: each output's metrics, named as the history names them."""
    items = [(head.metric_name(m), _metric_expr(head, m, spec.layers[head.layer].output_shape[-1],
                                                f"outputs[{head.index}]", f"y[{literal(head.key)}]"))
             for head in heads(spec) for m in head.metrics]
    with body.block("def metrics(outputs, y):"):
        if not items:
            body.docstring("The spec asks for no metrics.")
            body("return {}")
            return
        body.docstring("Each output's metrics (outputs: one array per output, in OUTPUTS' order; y: a dict by key),\n"
                       "as Keras computes them for that output's loss.")
        with body.block("return {"):
            for name, expr in items:
                body(f"{literal(name)}: {expr},")
        body("}")


def torch_steps(body: Code, spec: Spec, clip: bool, predict) -> None:
    """``to_tensors``, ``train_step``, ``predict`` (written by ``predict(body, spec)``), ``evaluate``, ``train``."""
    several = is_several(spec)
    dtypes = {h.key: "torch.int64" if h.loss.kind == "sparse_categorical_crossentropy" else "dtype"
              for h in heads(spec)}
    with body.block("def to_tensors(model, x, y):"):
        body.docstring("x: one tensor per input, in INPUTS' order, in the model's dtype; y: a dict of tensors by\n"
                       "output key (class indices as int64).")
        body("dtype = next(model.parameters()).dtype",
             "inputs = [torch.as_tensor(x[key], dtype=dtype) for key in INPUTS]")
        body("targets = {" + ", ".join(f"{literal(k)}: torch.as_tensor(y[{literal(k)}], dtype={d})"
                                       for k, d in dtypes.items()) + "}")
        body("return inputs, targets")
    body.blank(2)
    with body.block("def run(model, inputs):"):
        body.docstring("The model's outputs as a tuple, one per output.")
        body("outputs = model(*inputs)", "return outputs if isinstance(outputs, tuple) else (outputs,)")
    body.blank(2)
    with body.block("def train_step(model, optimizer, x, y, step):"):
        body.docstring("One optimizer step on the batch (x, y: dicts of arrays); `step` (from 0) picks the scheduled\n"
                       "learning rate. Returns the batch's loss (before the update, penalties included), each\n"
                       "output's loss, and the outputs.")
        body("x, y = to_tensors(model, x, y)")
        with body.block("for group in optimizer.param_groups:"):
            body('group["lr"] = learning_rate(step)')
        body("model.train()", "optimizer.zero_grad()", "outputs = run(model, x)",
             "loss, parts = total_loss(model, outputs, y)", "loss.backward()")
        if clip:
            body("clip_gradients(model.parameters())")
        body("optimizer.step()",
             "return loss.item(), {k: v.item() for k, v in parts.items()}, [o.detach().cpu().numpy() for o in outputs]")
    body.blank(2)
    body("@torch.no_grad()")
    with body.block("def predict(model, x):"):
        predict(body, spec)
    body.blank(2)
    logs = '{"loss": total / n' + (', **{f"{key}_loss": parts[key] / n for key in OUTPUTS}}' if several else "}")
    body("@torch.no_grad()")
    with body.block("def evaluate(model, x, y):"):
        body.docstring("Loss and metrics over (x, y) in inference mode, batch by batch.")
        body("model.eval()", "n = len(y[OUTPUTS[0]])",
             "total, parts, outputs = 0.0, {key: 0.0 for key in OUTPUTS}, []")
        with body.block("for start in range(0, n, BATCH_SIZE):"):
            body("batch = slice(start, start + BATCH_SIZE)",
                 "xb, yb = to_tensors(model, rows(x, batch), rows(y, batch))",
                 "out = run(model, xb)",
                 "loss, losses = total_loss(model, out, yb)",
                 "size = len(yb[OUTPUTS[0]])",
                 "total += loss.item() * size")
            with body.block("for key in OUTPUTS:"):
                body("parts[key] += losses[key].item() * size")
            body("outputs.append([o.cpu().numpy() for o in out])")
        body(f"logs = {logs}",
             "logs.update(metrics([np.concatenate(o) for o in zip(*outputs)], y))",
             "return logs")
    body.blank(2)
    _torch_train(body, spec, logs)


def _torch_train(body: Code, spec: Spec, logs: str) -> None:
    t = spec.training
    es = t.early_stopping
    if es is not None and es.monitor.startswith("val_") and not t.validation_split:
        es = None
    with body.block("def train(model, data, epochs=None):"):
        body.docstring("Train as nnspec does: each epoch's batches from default_rng(SeedSequence([SEED, 1, epoch])),\n"
                       "the same rows of every array, the last batch partial; the loss, each output's loss and the\n"
                       "metrics on the training batches, validation in inference mode"
                       + (f"; early stopping as Keras' EarlyStopping({', '.join(early_stopping_args(es))})"
                          if es is not None else "") + ".\nReturns the history: one dict per epoch.")
        body("x_train, y_train, x_val, y_val = data",
             "epochs = epochs or EPOCHS",
             "optimizer = make_optimizer(model)",
             "history, step = [], 0",
             "n = len(y_train[OUTPUTS[0]])")
        if es is not None:
            body("best, best_epoch, best_state, wait = math.inf, None, None, 0")
        with body.block("for epoch in range(epochs):"):
            body("rng = np.random.default_rng(np.random.SeedSequence([SEED, 1, epoch]))",
                 "order = rng.permutation(n)",
                 "total, parts, outputs = 0.0, {key: 0.0 for key in OUTPUTS}, []")
            with body.block("for start in range(0, n, BATCH_SIZE):"):
                body("batch = order[start : start + BATCH_SIZE]",
                     "x, y = rows(x_train, batch), rows(y_train, batch)",
                     "loss, losses, out = train_step(model, optimizer, x, y, step)",
                     "total += loss * len(batch)")
                with body.block("for key in OUTPUTS:"):
                    body("parts[key] += losses[key] * len(batch)")
                body("outputs.append(out)", "step += 1")
            body(f"logs = {logs}",
                 "logs.update(metrics([np.concatenate(o) for o in zip(*outputs)], rows(y_train, order)))")
            if t.validation_split:
                with body.block("if len(y_val[OUTPUTS[0]]):"):
                    body("val = evaluate(model, x_val, y_val)",
                         'logs.update({"val_" + k: v for k, v in val.items()})')
            torch_epoch_end(body, es)
        torch_fit_end(body, es)


# ---- Keras: compile and fit with one loss per output -------------------------------------------------------------
def keras_compile(body: Code, spec: Spec, loss_class: dict) -> None:
    """``model.compile`` with a loss, a weight and metrics per output, in output order (Keras' list forms)."""
    hs = heads(spec)
    with body.block("model.compile("):
        body("optimizer=make_optimizer(),")
        with body.block("loss=["):
            for h in hs:
                args = f"from_logits={h.loss.from_logits}" if h.loss.is_classification else ""
                body(f"keras.losses.{loss_class[h.loss.kind]}({args}),  # {h.key}")
        body("],")
        body("loss_weights=[" + ", ".join(literal(float(h.weight)) for h in hs) + "],")
        if any(h.metrics for h in hs):
            with body.block("metrics=["):
                for h in hs:
                    body("[" + ", ".join(keras_metrics(h, spec.layers[h.layer].output_shape[-1])) + f"],  # {h.key}")
            body("],")
    body(")")


def keras_metrics(head, units: int) -> list[str]:
    """Explicit Keras metric objects for one output (accuracy as nnspec's rule for that output's loss)."""
    out = []
    for m in head.metrics:
        if m == "accuracy":
            sparse = head.loss.kind == "sparse_categorical_crossentropy"
            kind = metric_rules.accuracy_kind(head.loss.kind, units, sparse)
            if kind == "binary":
                threshold = metric_rules.binary_threshold(head.loss.from_logits)
                out.append(f'keras.metrics.BinaryAccuracy(threshold={threshold!r}, name="accuracy")')
            elif kind == "sparse":
                out.append('keras.metrics.SparseCategoricalAccuracy(name="accuracy")')
            else:
                out.append('keras.metrics.CategoricalAccuracy(name="accuracy")')
        else:
            cls = {"mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "rmse": "RootMeanSquaredError"}[m]
            out.append(f'keras.metrics.{cls}(name="{m}")')
    return out


def keras_monitor(spec: Spec, monitor: str) -> str:
    """An early-stopping monitor named as Keras' fit names it: ``<output layer>_...`` for ``<key>_...``."""
    if not is_several(spec):
        return monitor
    prefix = "val_" if monitor.startswith("val_") else ""
    rest = monitor[len(prefix):]
    # the longest key first: keys y and y_b make y_b_loss y_b's loss, not y's metric "b_loss"
    for key, layer in sorted(zip(spec.output_key_names, spec.output_names), key=lambda kl: -len(kl[0])):
        if rest.startswith(f"{key}_"):
            return f"{prefix}{layer}_{rest[len(key) + 1:]}"
    return monitor


def keras_fit_targets(spec: Spec, y: str) -> str:
    """y for Keras' fit: a list in output order (several outputs), else the one output's array."""
    if is_several(spec):
        return f"[{y}[key] for key in OUTPUTS]"
    return f"{y}[OUTPUTS[0]]"


__all__ = ["data_imports", "data_section", "keras_compile", "keras_fit_targets", "keras_metrics", "keras_monitor",
           "logits_attributes",
           "main_lines", "needs_csv", "torch_losses", "torch_metrics", "torch_steps"]
