"""Plots name what they show: tracking.png's lines by layer and statistic in a legend outside the axes,
diagnose's x axis by layer name. Read from the matplotlib figures, not from pixels."""

from __future__ import annotations

import pytest

from tools.diagnose import Diagnosis, LayerStats
from tools.diagnose_report import diagnosis_figure, tracking_figure
from runtime.plots import pyplot

LAYERS = ["dense", "dense_1", "conv_out", "dense_2"]


def tracked_epochs(layers: list[str], epochs: int = 3) -> list[dict]:
    return [{"epoch": e + 1, "loss": 1.0 / (e + 1),
             **{f"activation_variance/{name}": 0.1 * (i + 1) * (e + 1) for i, name in enumerate(layers)},
             **{f"gradient_norm/{name}": 0.01 * (i + 1) for i, name in enumerate(layers[1:])}}
            for e in range(epochs)]


@pytest.fixture
def close_figures():
    yield
    pyplot().close("all")


def legend_outside(fig, ax, renderer) -> bool:
    """The axis' legend lies to the right of its plotting area and inside the figure (as drawn)."""
    legend = ax.get_legend().get_window_extent(renderer)
    area = ax.get_window_extent(renderer)
    figure = fig.bbox
    return legend.x0 >= area.x1 and legend.x1 <= figure.x1 + 1 and legend.y0 >= figure.y0 - 1


def test_tracking_lines_are_named_by_layer_and_statistic_in_a_legend_outside(close_figures):
    layers = [*LAYERS, *(f"dense_{i}" for i in range(3, 25))]  # a deep model: every line still named
    fig = tracking_figure(tracked_epochs(layers), "m")
    variance_ax, gradient_ax = fig.axes
    assert [t.get_text() for t in variance_ax.get_legend().get_texts()] == \
        [f"{name}: activation variance" for name in layers]
    assert [t.get_text() for t in gradient_ax.get_legend().get_texts()] == \
        [f"{name}: gradient norm" for name in layers[1:]]
    assert all(line.get_label() and not line.get_label().startswith("_") for line in variance_ax.get_lines())
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)  # lays the figure out
    assert legend_outside(fig, variance_ax, renderer) and legend_outside(fig, gradient_ax, renderer)
    styles = {(line.get_color(), line.get_linestyle()) for line in variance_ax.get_lines()}
    assert len(styles) == len(layers)  # no two layers drawn alike


def stats(names: list[str]) -> Diagnosis:
    return Diagnosis([LayerStats(name, "Dense", "relu", 0.0, 1.0 / (i + 1), None,
                                 grad_norm=None if i == 0 else 0.1 * i) for i, name in enumerate(names)])


def test_diagnose_plot_names_the_layers_on_its_x_axis(close_figures):
    names = ["input_layer", *LAYERS]
    fig = diagnosis_figure({"as written": stats(names), "he_uniform": stats(names)}, "m")
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == names
        assert "layer" in ax.get_xlabel()


def test_diagnose_plot_of_a_deep_model_names_every_kth_layer(close_figures):
    names = [f"dense_{i}" for i in range(100)]
    fig = diagnosis_figure({"as written": stats(names)}, "m")
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert shown[0] == "dense_0" and set(shown) <= set(names) and 10 <= len(shown) <= 40
