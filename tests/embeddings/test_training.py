"""cemap.training.fit: the one training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cemap.training import NonFiniteLossError, TrainConfig, evaluate, fit, predict_in_batches


class LinearRegression(nn.Module):
    """y = Wx + b with a logged, non-differentiable term and a step counter hook."""

    def __init__(self, nan_from_epoch: int | None = None, batches_per_epoch: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.steps: list[dict[str, float]] = []
        self.nan_after = (
            None if nan_from_epoch is None else (nan_from_epoch - 1) * batches_per_epoch
        )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        mse = (self.linear(x) - y).pow(2).mean()
        if self.training and self.nan_after is not None and len(self.steps) >= self.nan_after:
            mse = mse * float("nan")
        return {
            "loss": mse,
            "multiplier": torch.tensor(2.5),
            "weight_norm": self.linear.weight.norm(),
        }

    def after_optimizer_step(self, terms: dict[str, torch.Tensor]) -> None:
        assert not terms["loss"].requires_grad
        self.steps.append({k: float(v) for k, v in terms.items()})


def _problem(
    n: int = 64, seed: int = 1
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return (x[: n * 3 // 4], y[: n * 3 // 4]), (x[n * 3 // 4 :], y[n * 3 // 4 :])


def _config(**overrides) -> TrainConfig:
    return TrainConfig(
        **{
            "epochs": 30,
            "batch_size": 16,
            "lr": 0.05,
            "device": "cpu",
            "progress": False,
            "name": "toy",
            **overrides,
        }
    )


def test_fit_reduces_loss_and_logs_every_term():
    train, val = _problem()
    torch.manual_seed(0)
    model = LinearRegression()
    before = evaluate(model, val, batch_size=8)["loss"]
    result = fit(model, train, val, _config())
    assert result.model is model and not model.training
    assert result.history[-1]["val/loss"] < 0.05 * before
    assert set(result.history[0]) == {
        "epoch", "train/loss", "train/multiplier", "train/weight_norm",
        "val/loss", "val/multiplier", "val/weight_norm", "seconds",
    }  # fmt: skip
    assert result.history[0]["train/multiplier"] == pytest.approx(2.5)
    assert result.samples_per_second > 0 and result.seconds > 0


def test_after_optimizer_step_is_called_once_per_step():
    train, val = _problem(n=64)  # 48 train samples, batch 16 -> 3 steps per epoch
    model = LinearRegression()
    result = fit(model, train, val, _config(epochs=4, patience=10))
    assert len(model.steps) == 3 * len(result.history) == 12
    assert model.steps[0]["multiplier"] == pytest.approx(2.5)


def test_fit_is_deterministic_on_cpu():
    def run():
        train, val = _problem()
        torch.manual_seed(0)
        model = LinearRegression()
        result = fit(model, train, val, _config(epochs=5, seed=7))
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
        return model.state_dict(), history

    (state_a, history_a), (state_b, history_b) = run(), run()
    assert history_a == history_b
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key])


def test_nan_loss_names_the_model_and_the_epoch():
    train, val = _problem()
    model = LinearRegression(nan_from_epoch=3, batches_per_epoch=3)
    with pytest.raises(NonFiniteLossError, match=r"toy: the loss became non-finite in epoch 3"):
        fit(model, train, val, _config(epochs=10))


def test_early_stopping_restores_the_best_weights():
    train, val = _problem()
    # Validation targets the opposite function, so the val loss rises while training improves.
    val = (val[0], -val[1])
    model = LinearRegression()
    result = fit(model, train, val, _config(epochs=50, patience=2))
    assert len(result.history) < 50
    assert len(result.history) == result.best_epoch + 2
    best = min(row["val/loss"] for row in result.history)
    assert evaluate(model, val, batch_size=8)["loss"] == pytest.approx(best, rel=1e-5)


def test_bad_inputs_are_explained():
    train, val = _problem()
    with pytest.raises(ValueError, match="toy: the val tensors"):
        fit(LinearRegression(), train, (val[0], val[1][:3]), _config())
    with pytest.raises(ValueError, match=r"TrainConfig.epochs=0"):
        fit(LinearRegression(), train, val, _config(epochs=0))


def test_predict_in_batches_matches_one_call():
    x = torch.randn(37, 4)
    model = LinearRegression().eval()
    assert torch.allclose(predict_in_batches(model.linear, (x,), batch_size=8), model.linear(x))
