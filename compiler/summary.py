"""A Keras-style model summary as plain text: layer, type, output shape, parameters, initializer.

Deterministic (no terminal width, no colour) so that golden tests can pin it. A model that is not a plain
stack (``Graph.is_stack``) gets Keras' functional summary's "Connected to" column: each input as
``name[0][0]`` (node 0, tensor 0: every layer of a spec is called once and returns one tensor), one per line,
``-`` for an Input (``keras.src.utils.summary_utils.print_summary``).
"""

from __future__ import annotations

from compiler.ir.base import shape_str
from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from compiler.ir.values import VarianceScaling
from compiler.passes.initializers import following_activation, kernel_initializer_fields
from compiler.passes.lint import spec_graph

HEADERS = ("Layer (type)", "Output Shape", "Param #", "Kernel init")
GRAPH_HEADERS = ("Layer (type)", "Output Shape", "Param #", "Connected to", "Kernel init")


def _init_note(layers: list, index: int, graph: Graph) -> str:
    """The kernel initializer(s) of ``layers[index]`` (SeparableConv2D's depthwise and pointwise ones, joined
    by ``/``), with the activation auto-init chose them for; "" for a layer without a kernel."""
    layer = layers[index]
    fields = [f for f in kernel_initializer_fields(layer) if f in type(layer).model_fields]
    inits = [getattr(layer, f) for f in fields]
    if not inits:
        return ""
    kinds = "/".join(dict.fromkeys(init.kind for init in inits))
    if any(isinstance(init, VarianceScaling) and init.auto for init in inits):
        return f"{kinds} (auto: {following_activation(layers, index, graph).kind})"
    return kinds


def _graph(spec: Spec) -> Graph:
    return spec_graph(spec)


def summary_rows(spec: Spec, graph: Graph | None = None) -> list[tuple[str, str, str, str]]:
    """One row per layer: ``name (Kind)``, ``(None, ...)``, parameter count, kernel initializer."""
    layers = list(spec.layers)
    graph = graph or _graph(spec)
    return [(f"{layer.name} ({layer.kind})", shape_str(layer.output_shape),
             f"{layer.trainable_params + layer.non_trainable_params:,}", _init_note(layers, i, graph))
            for i, layer in enumerate(layers)]


def connections(spec: Spec, graph: Graph | None = None) -> list[list[str]]:
    """Keras' "Connected to" of each layer, one entry per input in order (``conv2d[0][0]``; ``-`` for an Input);
    every entry but the last ends with ``,`` (Keras joins them with ``, ``; here each stands on its own line)."""
    graph = graph or _graph(spec)
    out = []
    for i in range(len(spec.layers)):
        names = [f"{spec.layers[s].name}[0][0]" for s in graph.sources[i]]
        out.append([n + "," for n in names[:-1]] + names[-1:] if names else ["-"])
    return out


def _size(n: int) -> str:
    """Parameter memory in float32, as Keras prints it."""
    b = 4 * n
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return ""  # pragma: no cover


def render_summary(spec: Spec) -> str:
    """The summary table and totals, like ``keras.Model.summary()``."""
    graph = _graph(spec)
    rows = summary_rows(spec, graph)
    headers = HEADERS
    if not graph.is_stack:  # Keras' functional summary: the inputs of each layer, one line each
        headers = GRAPH_HEADERS
        lines = []
        for (name, shape, params, init), inputs in zip(rows, connections(spec, graph)):
            lines.append((name, shape, params, inputs[0], init))
            lines += [("", "", "", more, "") for more in inputs[1:]]
        rows = lines
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def row_format(bar: str) -> str:
        """A row: its cells padded to their column's width (the parameter count right-aligned), between bars."""
        cells = [f"{{:{'>' if i == 2 else '<'}{w}}}" for i, w in enumerate(widths)]
        return f"{bar} " + f" {bar} ".join(cells) + f" {bar}"

    def rule(left, mid, right, fill="─"):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    trainable, frozen = spec.trainable_params, spec.non_trainable_params
    total = trainable + frozen
    out = [f'Model: "{spec.name}"', rule("┏", "┳", "┓", "━"), row_format("┃").format(*headers), rule("┡", "╇", "┩", "━")]
    body = row_format("│")
    out += [body.format(*r) for r in rows]
    out.append(rule("└", "┴", "┘"))
    out.append(f" Total params: {total:,} ({_size(total)})")
    out.append(f" Trainable params: {trainable:,} ({_size(trainable)})")
    out.append(f" Non-trainable params: {frozen:,} ({_size(frozen)})")
    if spec.training is not None:
        out.append(" " + training_line(spec))
    return "\n".join(out)


def _call(fields: dict) -> str:
    """An IR node's dump as the spec would write it: ``adam(learning_rate=0.001, ...)``."""
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items() if k not in ("kind", "span"))
    return f"{fields['kind']}({args})"


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return _call(v)
    return str(v)


def training_line(spec: Spec) -> str:
    """One line: loss, optimizer with its settings, schedule, batches, epochs, seed, data."""
    t = spec.training
    assert t is not None
    if isinstance(t.loss, tuple):  # one loss per output key
        loss = "{" + ", ".join(f"{o.key}: {_call(o.loss.model_dump())}" for o in t.loss) + "}"
    else:
        loss = _call(t.loss.model_dump())
    parts = [f"loss={loss}"]
    if t.loss_weights:
        parts.append("loss_weights={" + ", ".join(f"{w.key}: {w.weight:g}" for w in t.loss_weights) + "}")
    parts.append(f"optimizer={_call(t.optimizer.model_dump())}")
    if t.schedule.kind != "constant":
        parts.append(f"schedule={_call(t.schedule.model_dump())}")
    for key in ("clip_norm", "clip_value"):
        if getattr(t, key) is not None:
            parts.append(f"{key}={getattr(t, key):g}")
    parts += [f"batch_size={t.batch_size}", f"epochs={t.epochs}", f"seed={t.seed}"]
    if t.metrics and not isinstance(t.metrics[0], str):  # per output key
        parts.append("metrics={" + ", ".join(f"{m.key}: [{', '.join(m.metrics)}]" for m in t.metrics) + "}")
    elif t.metrics:
        parts.append("metrics=[" + ", ".join(t.metrics) + "]")
    if t.validation_split:
        parts.append(f"validation_split={t.validation_split:g}")
    if t.early_stopping is not None:
        parts.append("early_stopping=" + _call({"kind": "monitor", **t.early_stopping.model_dump()}))
    if t.data is not None:
        data = t.data
        if data.kind in ("npz", "csv"):
            def groups(gs) -> str:
                return "{" + ", ".join(f"{g.key or '-'}: {', '.join(g.names)}" for g in gs) + "}"
            parts.append(f"data={data.kind}({data.path}, x={groups(data.x)}, y={groups(data.y)})")
        else:
            parts.append("data=" + (data.name if data.kind == "builtin" else data.path if data.kind == "file"
                                    else _call(data.model_dump())))
    return "Training: " + ", ".join(parts)
