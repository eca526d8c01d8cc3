"""Control panels for the lessons: one module per lesson, thin wiring over pure ``labkit`` functions.

A widget never computes anything itself: it calls a pure function (which the tests call directly) and shows
the result. Videos are shown in an ``ipywidgets.HTML`` so a headless test can read ``.value``.
"""

from collections.abc import Callable

import ipywidgets as w

__all__ = ["control_panel"]


def control_panel(controls: dict, render: Callable[[dict], str], rows: list[list[str]] | None = None):
    """Wire ``controls`` (name -> ipywidget) to ``render(values) -> html`` shown in an ``ipywidgets.HTML``.

    Re-renders on every change. ``rows`` groups control names into lines (default: one line). Returns a
    ``VBox`` with ``.controls`` and ``.view`` so tests can set values and read the HTML headlessly.
    """

    view = w.HTML()

    def update(_change=None) -> None:
        view.value = render({name: c.value for name, c in controls.items()})

    for control in controls.values():
        control.observe(update, names="value")
    update()
    lines = rows or [list(controls)]
    panel = w.VBox([*(w.HBox([controls[name] for name in line]) for line in lines), view])
    panel.controls, panel.view = controls, view
    return panel
