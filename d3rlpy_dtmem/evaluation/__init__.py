"""Evaluation: rollouts over many seeds (stock or batched), expert-return inference, scores,
IQM with stratified-bootstrap intervals, reports, plots, memory activity, training logs.

Importing it does not import matplotlib, ale-py or Meta-World (they load when used).
"""

from .._moved import renamed_names
from ..expert import (
    DEFAULT_KAPPA,
    ReturnSampler,
    TopPercentileActionSampler,
    is_expert_target,
    tilt_return_logits,
)
from ..inference import (
    BatchedTransformerPolicy,
    EpisodeWindows,
    ExpertReturnMixin,
    SingleEpisodeWrapper,
)
from .activity import Trajectory, memory_activity, record_trajectory
from .aggregate import Interval, aggregate_scores, iqm, stratified_bootstrap_ci, task_intervals
from .envspec import EnvSpec, check_env_compatible, evaluate_envs, parse_env_spec
from .loggers import EvaluationAdapterFactory, training_logger
from .plots import plot_memory_activity, plot_task_scores, plot_training_curves
from .report import TaskResult, markdown_report, summarize, write_report
from .rollouts import (
    EnvFactory,
    EpisodeStats,
    EvaluationResult,
    episode_seed,
    evaluate,
    pool_results,
)
from .scores import (
    atari_reference_table,
    dqn_normalized_score,
    human_normalized_score,
    load_reference_table,
    normalized_score,
)

__all__ = [
    "DEFAULT_KAPPA",
    "BatchedTransformerPolicy",
    "EnvFactory",
    "EnvSpec",
    "EpisodeStats",
    "EvaluationAdapterFactory",
    "EvaluationResult",
    "ExpertReturnMixin",
    "Interval",
    "ReturnSampler",
    "TopPercentileActionSampler",
    "SingleEpisodeWrapper",
    "TaskResult",
    "Trajectory",
    "EpisodeWindows",
    "aggregate_scores",
    "atari_reference_table",
    "dqn_normalized_score",
    "check_env_compatible",
    "episode_seed",
    "evaluate",
    "pool_results",
    "evaluate_envs",
    "human_normalized_score",
    "iqm",
    "is_expert_target",
    "load_reference_table",
    "markdown_report",
    "memory_activity",
    "normalized_score",
    "parse_env_spec",
    "plot_memory_activity",
    "plot_task_scores",
    "plot_training_curves",
    "record_trajectory",
    "stratified_bootstrap_ci",
    "summarize",
    "task_intervals",
    "tilt_return_logits",
    "training_logger",
    "write_report",
]

__getattr__ = renamed_names(__name__, {"Windows": "EpisodeWindows"})
