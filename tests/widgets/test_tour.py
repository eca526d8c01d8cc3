"""labkit.widgets.tour: the caption composer of the tour, driven headlessly."""

from labkit.widgets.tour import caption_clip_html, caption_composer


def test_pure_function_renders_the_composed_caption():
    caption, html = caption_clip_html("blue", "square", "up", "quickly", seed=2)
    assert caption == "a blue square moving up quickly"
    assert "data:video/mp4;base64," in html or "data:image/gif;base64," in html


def test_composer_rerenders_on_every_control():
    panel = caption_composer(seed=0)
    seen = {panel.view.value}
    for name, value in [("color", "blue"), ("shape", "triangle"), ("direction", "down"), ("speed", "quickly"),
                        ("seed", 7)]:
        panel.controls[name].value = value
        assert panel.view.value not in seen, f"changing {name} did not change the clip"
        seen.add(panel.view.value)
    assert "a blue triangle moving down quickly" in panel.view.value
