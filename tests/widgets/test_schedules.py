"""labkit.widgets.schedules: the schedule explorer and the noise-correlation explorer, driven headlessly."""

import math

from labkit import schedules as S
from labkit.widgets.schedules import noise_correlation_explorer, schedule_explorer


def test_schedule_explorer_widget_updates_headlessly():
    panel = schedule_explorer("scaled_linear", num_train_timesteps=200)
    first = panel.view.value
    ac = S.schedule_curves("scaled_linear", num_train_timesteps=200)["alphas_cumprod"]
    assert '<img src="data:image/png;base64,' in first
    assert f"terminal SNR = {float(ac[-1] / (1 - ac[-1])):.3g} " in first
    panel.controls["zero_snr"].value = True
    assert "terminal SNR = 0 " in panel.view.value and panel.view.value != first
    panel.controls["shift"].value = 4.0
    panel.controls["name"].value = "flow"
    assert len(panel.timings_ms) == 4
    line = panel.plot.cur[1]  # the log-SNR of the chosen curve is what the plot holds
    expected = S.schedule_curves("flow", 4.0, True, 200)["log_snr"].clamp(min=-1e3).numpy()
    assert (abs(line.get_ydata() - expected) < 1e-9).all()


def test_noise_correlation_explorer_widget():
    panel = noise_correlation_explorer(alpha=1.0, kind="mixed", num_frames=4, size=16, draws=2)
    assert "neighbouring frames 0.500" in panel.view.value
    panel.controls["kind"].value = "progressive"
    panel.controls["alpha"].value = 2.0
    assert f"neighbouring frames {2 / math.sqrt(5):.3f}" in panel.view.value
    assert "<img" in panel.view.value
