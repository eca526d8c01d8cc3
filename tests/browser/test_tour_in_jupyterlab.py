"""Open 00_tour.ipynb in a real JupyterLab in Chromium, run all cells, change the caption widget, and check
that the displayed clip changes."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser


def _clip_src(page) -> str:
    video = page.locator(".widget-html video.labkit-video, .widget-html img.labkit-video").first
    return video.get_attribute("src")


def test_tour_runs_and_caption_widget_updates_the_clip(page, jupyter_lab):
    page.set_default_timeout(60_000)
    page.goto(f"{jupyter_lab}/lab/tree/00_tour.ipynb")
    page.locator(".jp-Notebook").wait_for()
    page.wait_for_function("() => document.querySelector('.jp-Notebook .jp-Cell') !== null")
    # JupyterLab may ask which kernel to start: take the proposed one (this environment's python3)
    try:
        page.get_by_role("button", name="Select", exact=True).click(timeout=10_000)
    except PlaywrightTimeout:
        pass
    # wait for the kernel to be idle, then Run > Run All Cells
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()

    # the composer widget renders: dropdowns and an inline clip
    # (JupyterLab renders only the cells in view: wait for the widget to exist, then scroll to it)
    dropdown = page.locator(".widget-dropdown select").first
    dropdown.wait_for(state="attached")
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
    dropdown.scroll_into_view_if_needed()
    page.locator(".widget-html .labkit-video").first.wait_for()
    before = _clip_src(page)
    assert before.startswith("data:video/mp4;base64,") or before.startswith("data:image/gif;base64,")
    assert "a red circle moving right" in page.locator(".widget-html figcaption").first.inner_text()

    dropdown.select_option("blue")  # the colour dropdown
    page.wait_for_function(
        "(old) => { const v = document.querySelector('.widget-html .labkit-video'); return v && v.src !== old; }",
        arg=before)
    after = _clip_src(page)
    assert after != before
    assert "a blue circle moving right" in page.locator(".widget-html figcaption").first.inner_text()

    # the notebook ran to the end without an error output
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").filter(
        has_text="Traceback").count() == 0
