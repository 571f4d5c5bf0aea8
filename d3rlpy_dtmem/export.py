"""The greedy policy that ``DTMem.save_policy`` exports as TorchScript."""

import torch
from d3rlpy.preprocessing import ActionScaler, ObservationScaler
from torch import nn

from .nn import DTMemModel

__all__ = ["GreedyPolicy"]


class GreedyPolicy(nn.Module):
    """One full window (no batch dimension) -> the action of its last step.

    Inputs: ``observations (K, *obs)``, ``actions (K, A)`` (``(K, 1)`` indices when discrete),
    ``returns_to_go (K, 1)``, ``timesteps (K,)``. Every step counts as real. Returns an index
    (discrete) or an action vector (continuous, in the action scaler's original units).
    """

    def __init__(
        self,
        model: DTMemModel,
        discrete: bool,
        observation_scaler: ObservationScaler | None,
        action_scaler: ActionScaler | None,
    ):
        super().__init__()
        self.model = model
        self.discrete = discrete
        self.observation_scaler = observation_scaler
        self.action_scaler = action_scaler

    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        returns_to_go: torch.Tensor,
        timesteps: torch.Tensor,
    ) -> torch.Tensor:
        if self.observation_scaler:
            observations = self.observation_scaler.transform(observations)
        if self.action_scaler:
            actions = self.action_scaler.transform(actions)
        valid = torch.ones(1, returns_to_go.shape[0], device=returns_to_go.device)
        # (K, ...) -> (1, K, ...)
        output = self.model(
            observations[None], actions[None], returns_to_go[None], timesteps[None], valid
        )
        action = output.action[0, -1]
        if self.discrete:
            return action.argmax()
        if self.action_scaler:
            action = self.action_scaler.reverse_transform(action)
        return action
