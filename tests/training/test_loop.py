"""labkit.training.loop.fit: the warm-up + cosine learning rate, the EMA's decay on a one-parameter model, gradient
clipping, and exact resume from a mid-run checkpoint."""

import copy
import itertools
import math

import pytest
import torch

from labkit.training.loop import EMA, TrainConfig, cosine_lr, fit


class RecordingAdamW(torch.optim.AdamW):
    """AdamW that records, at every step, the learning rate it is about to use and the gradients it sees."""

    seen: list[dict] = []

    def step(self, closure=None):
        RecordingAdamW.seen.append({"lr": self.param_groups[0]["lr"],
                                    "grads": [p.grad.clone() for p in self.param_groups[0]["params"]]})
        return super().step(closure)


@pytest.fixture
def recording_optimizer(monkeypatch):
    """fit builds ``torch.optim.AdamW(...)``: swap in the recording subclass; returns its per-step records."""
    RecordingAdamW.seen = []
    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    return RecordingAdamW.seen


def _linear_loss(weights):
    """loss = weights . w: a constant gradient ``weights`` whatever the parameter's value."""
    weights = torch.tensor(weights)
    return lambda model, batch, step: (model.w * weights).sum()


class OneParameter(torch.nn.Module):
    def __init__(self, *values):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(values))


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(progress=False, **kwargs)


# ---------------------------------------------------------------- learning rate
def test_cosine_lr_warms_up_linearly_then_follows_the_cosine_to_final_frac():
    lr = lambda step: cosine_lr(step, total=20, base_lr=1.0, warmup=4, final_frac=0.1)  # noqa: E731
    assert [lr(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]  # (step + 1) / warmup
    assert lr(4) == 1.0  # the cosine starts at the base rate
    # halfway through the 16 decay steps: final + (1 - final) * (1 + cos(pi / 2)) / 2
    assert lr(12) == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-12)
    assert lr(8) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)), abs=1e-12)
    assert lr(20) == pytest.approx(0.1, abs=1e-12) and lr(25) == pytest.approx(0.1, abs=1e-12)  # held at the floor
    decay = [lr(s) for s in range(4, 21)]
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert cosine_lr(0, 10, 0.3, warmup=0) == 0.3  # no warm-up: the first step already uses the base rate


def test_fit_sets_the_scheduled_rate_before_every_step(recording_optimizer):
    fit(OneParameter(0.0), itertools.repeat(None), _linear_loss([1.0]), quiet(steps=10, lr=0.1, warmup=3))
    assert [r["lr"] for r in recording_optimizer] == [cosine_lr(s, 10, 0.1, 3) for s in range(10)]


# ---------------------------------------------------------------- EMA
def test_ema_follows_the_decay_formula_on_one_parameter():
    model = OneParameter(0.0)
    ema = EMA(model, decay=0.9)
    expected = 0.0
    for step, value in enumerate([1.0, 3.0, -2.0, 5.0] + [4.0] * 96):
        with torch.no_grad():
            model.w.fill_(value)
        ema.update(model, step)
        decay = min(0.9, (1 + step) / (10 + step))  # warm-up: 0.1, 2/11, 3/12, ... then 0.9 from step 80
        expected = decay * expected + (1 - decay) * value
        assert float(ema.model.w) == pytest.approx(expected, abs=1e-6), step
    assert not ema.model.w.requires_grad


def test_fit_returns_the_ema_of_the_trained_weights():
    model, raw = OneParameter(0.5), []

    def loss_fn(m, batch, step):
        raw.append(float(m.w.detach()))  # the weights step ``step`` starts from
        return (m.w - 2.0) ** 2

    result = fit(model, itertools.repeat(None), loss_fn, quiet(steps=12, lr=0.1, warmup=2, ema_decay=0.95))
    assert result.model is not model  # the EMA copy is what a run ships
    trajectory = raw[1:] + [float(model.w.detach())]  # the weights after each step
    expected = raw[0]
    for step, value in enumerate(trajectory):
        decay = min(0.95, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * value
    assert float(result.model.w) == pytest.approx(expected, abs=1e-6)
    assert abs(float(result.model.w) - float(model.w.detach())) > 1e-3  # and it is not the raw weights


# ---------------------------------------------------------------- gradient clipping
@pytest.mark.parametrize("grad_clip, expected", [(1.0, [0.6, 0.8]), (10.0, [3.0, 4.0]), (0.0, [3.0, 4.0])])
def test_gradients_are_clipped_to_the_configured_norm(recording_optimizer, grad_clip, expected):
    """The gradient of 3 w0 + 4 w1 has norm 5: clipped to norm 1 it keeps its direction (0.6, 0.8); a larger
    bound, or none (0), leaves it alone."""
    fit(OneParameter(0.0, 0.0), itertools.repeat(None), _linear_loss([3.0, 4.0]),
        quiet(steps=3, lr=0.01, warmup=0, grad_clip=grad_clip))
    for record in recording_optimizer:
        torch.testing.assert_close(record["grads"][0], torch.tensor(expected), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- resume
def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _batches(start=0):
    """The batch of step s comes from a generator seeded by s, so a resumed run draws what it would have drawn."""
    for step in itertools.count(start):
        g = torch.Generator().manual_seed(1000 + step)
        x = torch.randn(16, 4, generator=g)
        yield x, x.sum(1, keepdim=True).sin()


def _mse(model, batch, step):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_resume_from_a_mid_run_checkpoint_continues_exactly():
    """Train 8 steps in one go, keeping the state the run checkpoints at step 4; a fresh model resumed from that
    state for the last 4 steps ends with bit-identical raw and EMA weights and the same losses. Resuming without
    the optimizer's state (AdamW's moments) does not: the test can fail."""
    config = quiet(steps=8, lr=0.05, warmup=2, ema_decay=0.9, checkpoint_every=4)
    model, saved = _model(), {}

    def keep_state(ema_model, step, optimizer):
        if step == 4:
            saved.update(raw=copy.deepcopy(model.state_dict()), ema=copy.deepcopy(ema_model.state_dict()),
                         optimizer=copy.deepcopy(optimizer.state_dict()))

    full = fit(model, _batches(), _mse, config, checkpoint=keep_state)

    def resume(optimizer_state):
        again = _model()
        again.load_state_dict(saved["raw"])
        state = {"optimizer": optimizer_state, "step": 4, "losses": full.losses[:4], "ema": saved["ema"]}
        return again, fit(again, _batches(start=4), _mse, config, resume_from=state)

    raw, resumed = resume(saved["optimizer"])
    assert resumed.losses == full.losses and len(full.losses) == 8 and resumed.steps == 4
    for (name, a), b in zip(model.state_dict().items(), raw.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    fresh_optimizer = torch.optim.AdamW(_model().parameters()).state_dict()
    _, forgetful = resume(fresh_optimizer)
    assert forgetful.losses[4:] != full.losses[4:]
