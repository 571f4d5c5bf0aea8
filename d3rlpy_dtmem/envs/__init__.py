"""Environment factories matching the converted datasets: Atari (DQN protocol), Meta-World;
the T-maze memory task (:mod:`.tmaze`); and the one loop that plays episodes
(:mod:`.episodes`)."""

from .atari import atari_games, check_atari_game, make_atari, minimal_action_set
from .episodes import (
    EpisodePolicy,
    EpisodeStats,
    RandomPolicy,
    StatefulWrapperPolicy,
    play_together,
)
from .metaworld import (
    ML45_TEST_TASKS,
    ML45_TRAIN_TASKS,
    MetaWorldTaskEnv,
    make_metaworld,
    metaworld_success_rate,
    metaworld_tasks,
)
from .registry import ATARI_DQN_ENV_ID, METAWORLD_ENV_ID, TMAZE_ENV_ID, env_spec
from .tmaze import TMazeEnv, tmaze_dataset

__all__ = [
    "ATARI_DQN_ENV_ID",
    "METAWORLD_ENV_ID",
    "env_spec",
    "atari_games",
    "check_atari_game",
    "EpisodePolicy",
    "EpisodeStats",
    "make_atari",
    "make_metaworld",
    "metaworld_success_rate",
    "metaworld_tasks",
    "MetaWorldTaskEnv",
    "minimal_action_set",
    "ML45_TEST_TASKS",
    "ML45_TRAIN_TASKS",
    "play_together",
    "RandomPolicy",
    "StatefulWrapperPolicy",
    "TMAZE_ENV_ID",
    "TMazeEnv",
    "tmaze_dataset",
]
