import numpy as np
import pytest
import torch

from labkit import video as V


def test_uint8_round_trip(clip):
    frames = V.to_uint8(clip.video)
    assert frames.shape == (17, 64, 64, 3) and frames.dtype == np.uint8
    back = V.from_uint8(frames)
    assert back.shape == clip.video.shape
    assert (back - clip.video).abs().max() <= 0.5 / 255 + 1e-6


def test_pil_round_trip(clip):
    images = V.to_pil(clip.video)
    assert len(images) == 17 and images[0].size == (64, 64)
    assert torch.allclose(V.from_pil(images), V.from_uint8(V.to_uint8(clip.video)))


def test_from_pipeline_output_all_types(clip):
    batch = clip.video[None]
    pt = V.from_pipeline_output(batch)
    np_out = V.from_pipeline_output(batch.permute(0, 1, 3, 4, 2).numpy())  # output_type="np": (B, F, H, W, C)
    pil = V.from_pipeline_output([V.to_pil(clip.video)])
    assert pt.shape == np_out.shape == pil.shape == (1, 17, 3, 64, 64)
    assert torch.allclose(pt, np_out)
    assert (pil - pt).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(64, 64, 3), "rank 3"),
        (torch.rand(17, 64, 64, 3), "channels last"),
        (torch.rand(3, 17, 64, 64), "frames and channels swapped"),
        (torch.rand(17, 3, 8, 8) * 2 - 1, "looks like [-1, 1]"),
        (torch.rand(17, 3, 8, 8) * 255, "divide by 255"),
        (torch.full((2, 3, 4, 4), float("nan")), "NaN"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "from_uint8"),
        (np.zeros((2, 4, 4, 3), np.uint8), "from_uint8"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_check_video_errors_name_the_problem(bad, message):
    with pytest.raises((ValueError, TypeError)) as err:
        V.check_video(bad)
    assert message in str(err.value)


def test_check_video_accepts_grey_and_batches():
    assert V.check_video(torch.rand(2, 5, 1, 8, 8)).shape == (2, 5, 1, 8, 8)
    with pytest.raises(ValueError, match="rank 5"):
        V.check_video(torch.rand(2, 5, 1, 8, 8), allow_batch=False)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_video_writes_a_readable_file(tmp_path, clip, suffix):
    import imageio.v3 as iio

    path = V.save_video(clip.video, tmp_path / f"clip{suffix}", fps=8)
    frames = iio.imread(path)  # (F, H, W, C)
    assert frames.shape[0] == 17 and frames.shape[1:3] == (64, 64)
    # lossy for mp4 and palette-quantised for gif, but the picture must be the same clip
    err = np.abs(frames[..., :3].astype(float) / 255 - V.to_uint8(clip.video) / 255).mean()
    assert err < 0.03
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_mp4_is_browser_playable_h264(tmp_path, clip):
    import subprocess

    import imageio_ffmpeg

    path = V.save_video(clip.video[:, :, :63, :63], tmp_path / "odd.mp4")  # odd sizes are padded to even
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True).stderr
    assert "h264" in info and "yuv420p" in info


def test_save_video_rejects_bad_arguments(tmp_path, clip):
    with pytest.raises(ValueError, match=".mp4 or .gif"):
        V.save_video(clip.video, tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="fps: expected a finite number > 0, got 0"):
        V.save_video(clip.video, tmp_path / "clip.mp4", fps=0)
    with pytest.raises(ValueError, match="channels last"):
        V.save_video(clip.video.permute(0, 2, 3, 1), tmp_path / "clip.mp4")
    assert list(tmp_path.iterdir()) == []


def test_inline_html_embeds_the_video(clip):
    html = V.show_video(clip.video, title="a red circle")._repr_html_()
    assert "<video" in html and "data:video/mp4;base64," in html and "a red circle" in html
    gif = V.video_html(clip.video, fmt="gif")
    assert "<img" in gif and "data:image/gif;base64," in gif
    other = V.video_html(clip.video.flip(0))
    assert other != V.video_html(clip.video)


def test_gif_fallback_without_ffmpeg(monkeypatch, clip):
    monkeypatch.setattr(V, "ffmpeg_available", lambda: False)
    assert "data:image/gif;base64," in V.show_video(clip.video)._repr_html_()


def test_show_videos_side_by_side(clip):
    html = V.show_videos([clip.video, clip.video], titles=["a", "b"])._repr_html_()
    assert html.count("<figure") == 2
    with pytest.raises(ValueError, match="one title per video"):
        V.show_videos([clip.video], titles=["a", "b"])


def test_filmstrips(clip):
    fig = V.filmstrip(clip.video, num=5)
    assert len(fig.axes) == 5
    fig = V.compare_filmstrips([clip.video, clip.video], ["a", "b"], num=4)
    assert len(fig.axes) == 8
