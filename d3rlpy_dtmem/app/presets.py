"""Named DT-Mem configurations: ``tiny`` (CPU-sized) and ``paper`` (the paper's model).

The dataset decides the encoder: image observations (uint8 ``(C, H, W)``) get a pixel encoder
and ``PixelObservationScaler``, vectors a vector encoder. Everything else is the preset's::

    preset  width d  layers  heads  K   slots  batch  lr     encoder
    tiny    32       2       2      8   16     16     1e-3   [64] MLP / 2 small convs
    paper   512      4       8      28  1290   64     1e-4   [512, 512] MLP / DQN convs + 512

``paper`` follows the paper's Table 1 / App. A (d = 512, 4 layers, 8 heads, K = 28, 1290
slots, batch 64, lr 1e-4). Its ``max_timestep`` stays at the config default (1000): later
steps of long Atari episodes share the last timestep embedding.
"""

from typing import Any

from d3rlpy.models import EncoderFactory, PixelEncoderFactory, VectorEncoderFactory
from d3rlpy.preprocessing import PixelObservationScaler

from ..algo import DTMemConfig, default_optim_factory

__all__ = ["PRESETS", "preset_config"]

PRESETS = ("tiny", "paper")


def _encoder(preset: str, pixel: bool) -> EncoderFactory:
    if preset == "tiny":
        if pixel:
            return PixelEncoderFactory(filters=[[16, 8, 4], [32, 4, 2]], feature_size=32)
        return VectorEncoderFactory(hidden_units=[64, 32])
    if pixel:  # the DQN convolutions (d3rlpy's default filters), 512 features
        return PixelEncoderFactory(feature_size=512)
    return VectorEncoderFactory(hidden_units=[512, 512])


def _settings(preset: str) -> dict[str, Any]:
    if preset == "tiny":
        return dict(
            batch_size=16,
            learning_rate=1e-3,
            context_size=8,
            num_heads=2,
            num_layers=2,
            memory_slots=16,
            warmup_steps=50,
        )
    return dict(
        batch_size=64,
        learning_rate=1e-4,
        context_size=28,
        num_heads=8,
        num_layers=4,
        memory_slots=1290,
        warmup_steps=1000,
    )


def preset_config(
    preset: str,
    *,
    pixel: bool,
    use_memory: bool = True,
    decay_steps: int | None = None,
    **overrides: Any,
) -> DTMemConfig:
    """The :class:`~d3rlpy_dtmem.DTMemConfig` of a named preset.

    Args:
        preset: ``"tiny"`` or ``"paper"``.
        pixel: image observations (pixel encoder and ``PixelObservationScaler``) instead of
            vectors.
        use_memory: ``False`` gives the same model without working memory (the ablation).
        decay_steps: after the preset's warmup, decay the learning rate along a cosine to 0
            at this update (``None``: hold it).
        overrides: any other ``DTMemConfig`` field, applied last.

    Returns:
        the config (``.create(device=...)`` builds the algorithm).

    Raises:
        ValueError: unknown preset.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    settings = _settings(preset)
    warmup_steps = settings.pop("warmup_steps")
    params: dict[str, Any] = dict(
        **settings,
        encoder_factory=_encoder(preset, pixel),
        observation_scaler=PixelObservationScaler() if pixel else None,
        use_memory=use_memory,
        optim_factory=default_optim_factory(warmup_steps, decay_steps),
    )
    params.update(overrides)
    return DTMemConfig(**params)
