"""Penalty and Lagrangian constraints: the dual ascent on λ and its persistence."""

from __future__ import annotations

import pytest
import torch

from cemap.joint.constraints import LagrangianConstraint, PenaltyConstraint, make_constraint


def test_penalty_is_fixed_weight_times_distance_and_never_moves():
    penalty = PenaltyConstraint(n_pairs=2, initial=3.0, epsilon=0.1)
    distances = torch.tensor([0.5, 2.0])
    assert penalty.term(distances).item() == pytest.approx(3.0 * 2.5)
    penalty.update(distances)
    torch.testing.assert_close(penalty.multipliers, torch.tensor([3.0, 3.0]))


def test_dual_ascent_step_and_projection_onto_nonnegative():
    lagrangian = LagrangianConstraint(n_pairs=3, initial=0.05, epsilon=1.0, dual_lr=0.1)
    lagrangian.update(torch.tensor([3.0, 1.0, 0.0]))
    torch.testing.assert_close(lagrangian.multipliers, torch.tensor([0.25, 0.05, 0.0]))
    assert lagrangian.term(torch.tensor([2.0, 1.0, 0.0])).item() == pytest.approx(0.25)


def test_multiplier_rises_while_violated_and_stops_once_satisfied():
    """min (θ − 2)² s.t. D(θ) = θ² ≤ 1: λ climbs while θ² > 1 and stops as θ reaches 1."""
    theta = torch.tensor(2.0, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=0.1)
    lagrangian = LagrangianConstraint(n_pairs=1, initial=0.0, epsilon=1.0, dual_lr=0.3)
    violated_steps = satisfied_steps = 0
    for _ in range(250):
        distance = theta.pow(2).reshape(1)
        loss = (theta - 2.0).pow(2) + lagrangian.term(distance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        before = lagrangian.multipliers.clone()
        lagrangian.update(distance.detach())
        if distance.item() > 1.0 + 1e-4:  # clearly violated (float32 rounding aside)
            assert lagrangian.multipliers.item() > before.item()
            violated_steps += 1
        elif distance.item() <= 1.0:
            assert lagrangian.multipliers.item() <= before.item()
            satisfied_steps += 1
    assert violated_steps > 10 and satisfied_steps > 10
    assert theta.item() == pytest.approx(1.0, abs=0.05)  # the constrained optimum
    assert lagrangian.multipliers.item() == pytest.approx(1.0, abs=0.15)  # λ* = (2 − θ*)/θ*


def test_multipliers_are_buffers_that_survive_a_state_dict_round_trip():
    lagrangian = LagrangianConstraint(n_pairs=2, initial=0.0, epsilon=0.0, dual_lr=1.0)
    lagrangian.update(torch.tensor([0.7, 0.2]))
    restored = LagrangianConstraint(n_pairs=2, initial=0.0, epsilon=0.0, dual_lr=1.0)
    restored.load_state_dict(lagrangian.state_dict())
    torch.testing.assert_close(restored.multipliers, torch.tensor([0.7, 0.2]))
    assert "multipliers" in dict(lagrangian.named_buffers())


def test_unknown_constraint_names_the_choices():
    with pytest.raises(ValueError, match="lagrangian"):
        make_constraint("hard", n_pairs=1, initial=1.0, epsilon=0.1, dual_lr=0.1)
