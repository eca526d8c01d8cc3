"""Control panels for the lessons: one module per lesson, thin wiring over pure ``labkit`` functions.

A widget never computes anything itself: it calls a pure function (which the tests call directly) and shows
the result. Videos are shown in an ``ipywidgets.HTML`` so a headless test can read ``.value``.
"""
