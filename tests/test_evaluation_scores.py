"""Scores and aggregates: normalization formulas, IQM, stratified bootstrap intervals."""

import numpy as np
import pytest

from d3rlpy_dtmem.convert.atari_datasets import game_splits
from d3rlpy_dtmem.evaluation.aggregate import (
    aggregate_scores,
    iqm,
    stratified_bootstrap_ci,
    task_intervals,
)
from d3rlpy_dtmem.evaluation.scores import (
    atari_reference_table,
    dqn_normalized_score,
    has_reference,
    human_normalized_score,
    load_reference_table,
    normalized_score,
    weak_reference,
)


def test_human_normalized_scores_match_hand_computed_values():
    # Pong: random -20.7, human 14.6 -> (score + 20.7) / 35.3
    assert human_normalized_score(-20.7, "Pong") == pytest.approx(0.0)
    assert human_normalized_score(14.6, "Pong") == pytest.approx(1.0)
    assert human_normalized_score(0.0, "Pong") == pytest.approx(20.7 / 35.3)
    # Breakout: random 1.7, human 30.5; an array keeps its shape
    scores = human_normalized_score(np.array([[1.7, 16.1], [59.3, 30.5]]), "Breakout")
    np.testing.assert_allclose(scores, [[0.0, 0.5], [2.0, 1.0]])
    # MsPacman: random 307.3, human 6951.6
    assert human_normalized_score(3629.45, "MsPacman") == pytest.approx(0.5)


def test_dqn_normalized_scores_match_hand_computed_values():
    # Pong: random -20.7, DQN 16.61 -> (score + 20.7) / 37.31
    assert dqn_normalized_score(-20.7, "Pong") == pytest.approx(0.0)
    assert dqn_normalized_score(16.61, "Pong") == pytest.approx(1.0)
    assert dqn_normalized_score(0.0, "Pong") == pytest.approx(20.7 / 37.31)
    # Alien: random 227.8, DQN 2484.49; 127.4 % (the paper's fine-tuned DT-Mem) is 3102.79...
    assert dqn_normalized_score(227.8 + 1.274 * 2256.69, "Alien") == pytest.approx(1.274)
    scores = dqn_normalized_score(np.array([1.7, 48.965]), "Breakout")  # DQN 96.23
    np.testing.assert_allclose(scores, [0.0, 0.5])


def test_the_shipped_table_holds_the_reference_games():
    table = atari_reference_table()
    assert len(table) == 38
    split_games = {game for games in game_splits().values() for game in games}
    assert split_games <= set(table)  # every game of the DT-Mem splits has a row
    # the one row without random/human scores is Carnival (not in the Atari-57 tables)
    assert table["Carnival"] == {"dqn": 4784.84}
    assert not has_reference("Carnival", "dqn")  # scored by its raw return
    assert [game for game, row in table.items() if set(row) != {"random", "human", "dqn"}] == [
        "Carnival"
    ]
    # Dopamine's DQN, final iteration, mean of 5 runs (docs/evaluation.md)
    assert table["Seaquest"]["dqn"] == 1600.66 and table["Hero"]["dqn"] == 17325.44
    weak = [game for game in table if weak_reference(game)]
    assert weak == ["Centipede", "Frostbite", "Gravitar", "Seaquest", "TimePilot"]
    for game, row in table.items():
        assert row["human"] > row["random"] if "human" in row else True, game
        # DQN beats random play on every game it is shipped for: the DQN scale is positive
        assert row["dqn"] > row["random"] if {"dqn", "random"} <= set(row) else True, game
    table["Pong"]["human"] = 0.0  # a copy: the shipped values stay
    assert atari_reference_table()["Pong"]["human"] == 14.6


def test_any_reference_column_can_be_used(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("game,random,human,dqn\nPong,-20.0,10.0,20.0\nBoxing,0.0,12.0,\n")
    table = load_reference_table(path)
    assert normalized_score(0.0, "Pong", "dqn", table) == pytest.approx(0.5)
    assert normalized_score(0.0, "Pong", "human", table) == pytest.approx(20 / 30)
    with pytest.raises(ValueError, match="no 'dqn' reference score for 'Boxing'"):
        normalized_score(1.0, "Boxing", "dqn", table)
    with pytest.raises(ValueError, match="no reference scores for game 'Tetris'"):
        normalized_score(1.0, "Tetris")


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,random\nPong,1\n", "needs 'game' and 'random' columns"),
        ("game,random,human\nPong,1,2\nPong,1,3\n", "scores.csv:3: game 'Pong' is listed twice"),
        ("game,random,human\nPong,1,lots\n", "scores.csv:2: scores of 'Pong' must be numbers"),
    ],
)
def test_bad_reference_tables_are_refused(tmp_path, text, message):
    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_reference_table(path)


def _naive_iqm(values):
    ordered = sorted(values)
    cut = len(ordered) // 4
    middle = ordered[cut : len(ordered) - cut]
    return sum(middle) / len(middle)


@pytest.mark.parametrize("size", [1, 3, 4, 7, 8, 50])
def test_iqm_matches_a_naive_trimmed_mean(size):
    values = np.random.default_rng(size).normal(size=size)
    assert iqm(values) == pytest.approx(_naive_iqm(values.tolist()))
    assert iqm([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)  # the outlier is cut


def test_iqm_along_an_axis_matches_each_row():
    values = np.random.default_rng(0).normal(size=(5, 12))
    np.testing.assert_allclose(iqm(values, axis=1), [_naive_iqm(row.tolist()) for row in values])


def _scores(runs, tasks=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(loc=np.arange(tasks), scale=1.0, size=(runs, tasks))


@pytest.mark.parametrize("aggregate", ["iqm", "mean"])
def test_bootstrap_interval_contains_the_point_and_narrows_with_more_seeds(aggregate):
    widths = []
    for runs in (5, 20, 80):
        interval = stratified_bootstrap_ci(_scores(runs), aggregate, repetitions=1000)
        assert interval.low <= interval.point <= interval.high
        widths.append(interval.high - interval.low)
    assert widths[0] > widths[1] > widths[2] > 0


def test_bootstrap_resamples_within_each_task():
    # every run of a task has the same score: any within-task resampling changes nothing
    scores = np.tile([0.0, 1.0, 5.0], (6, 1))
    interval = stratified_bootstrap_ci(scores, "mean", repetitions=200)
    assert interval.low == interval.point == interval.high == pytest.approx(2.0)


def test_aggregates_and_task_intervals():
    scores = _scores(30, tasks=3)
    found = aggregate_scores(scores, repetitions=500)
    assert set(found) == {"iqm", "mean"}
    assert found["mean"].point == pytest.approx(scores.mean())
    assert found["iqm"].point == pytest.approx(_naive_iqm(scores.reshape(-1).tolist()))
    per_task = task_intervals(scores, repetitions=500)
    np.testing.assert_allclose([i.point for i in per_task], scores.mean(axis=0))
    assert all(i.low <= i.point <= i.high for i in per_task)


def test_bad_bootstrap_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        stratified_bootstrap_ci(_scores(4), "median")
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci(_scores(4), confidence=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        stratified_bootstrap_ci(np.zeros((0, 3)))
