"""The demo's targets checked on one run: values, thresholds, margins and their intervals."""

import numpy as np
import pytest

from d3rlpy_dtmem.app.demo_targets import (
    TARGET_NAMES,
    check_targets,
    demo_measures,
    format_targets,
)


def rows_of(successes):
    """results.json rows: {(model, stage): [success per task]}."""
    return [
        {"model": model, "stage": stage, "task": f"task{i}", "success": value}
        for (model, stage), values in successes.items()
        for i, value in enumerate(values)
    ]


def episodes_of(rng, rates, count):
    """A (count, tasks) 0/1 matrix whose task columns have exactly the given rates."""
    columns = []
    for rate in rates:
        column = np.zeros(count)
        column[: round(rate * count)] = 1.0
        columns.append(rng.permutation(column))
    return np.stack(columns, axis=1)


def test_measures_are_the_mean_success_over_tasks():
    rows = rows_of(
        {
            ("DT-Mem", "pretrain"): [0.2, 0.8],
            ("DT-Mem", "zero-shot"): [0.0],
            ("no memory", "pretrain"): [0.4, 0.6],
            ("DT-Mem", "LoRA"): [0.3],
            ("DT-Mem", "full FT"): [0.9],
        }
    )
    assert demo_measures(rows) == pytest.approx(
        {"DT-Mem train": 0.5, "no memory train": 0.5, "LoRA": 0.3, "full FT": 0.9}
    )
    with pytest.raises(ValueError, match="no 'DT-Mem' rows of stage 'full FT'"):
        demo_measures([row for row in rows if row["stage"] != "full FT"])


def test_each_target_compares_its_measure_with_what_it_needs():
    measures = {"DT-Mem train": 0.56, "no memory train": 0.6133, "LoRA": 0.2, "full FT": 0.5}
    checks = {check.name: check for check in check_targets(measures)}
    assert list(checks) == list(TARGET_NAMES)
    assert checks["DT-Mem train >= 0.5"].met
    assert checks["DT-Mem train >= 0.5"].needed == 0.5
    missed = checks["DT-Mem >= no memory - 0.05"]
    assert not missed.met and missed.needed == pytest.approx(0.5633)
    assert checks["LoRA > 0"].met
    assert not checks["LoRA >= full FT / 2"].met  # 0.2 < 0.25
    assert all(check.margin is None for check in checks.values())
    # a tie meets ">=" (float noise aside) but not "> 0"
    tie = {"DT-Mem train": 0.6, "no memory train": 0.65, "LoRA": 0.0, "full FT": 0.0}
    checks = {check.name: check for check in check_targets(tie)}
    assert checks["DT-Mem >= no memory - 0.05"].met
    assert checks["LoRA >= full FT / 2"].met
    assert not checks["LoRA > 0"].met


def test_margins_come_with_intervals_over_paired_episodes():
    rng = np.random.default_rng(0)
    count = 60
    train_a, train_b = [0.9, 0.8, 1.0], [0.2, 0.3, 0.1]
    episodes = {
        "DT-Mem train": episodes_of(rng, train_a, count),
        "no memory train": episodes_of(rng, train_b, count),
        "LoRA": episodes_of(rng, [0.5], count),
        "full FT": episodes_of(rng, [0.5], count),
    }
    measures = {name: float(matrix.mean()) for name, matrix in episodes.items()}
    checks = {check.name: check for check in check_targets(measures, episodes)}
    for check in checks.values():
        assert check.margin.point == pytest.approx(check.value - check.needed)
        assert check.margin.low <= check.margin.point <= check.margin.high
    # clear wins: the whole interval is above 0
    assert checks["DT-Mem train >= 0.5"].margin.low > 0
    assert checks["DT-Mem >= no memory - 0.05"].margin.low > 0
    # LoRA at full FT's level: half of it is cleared, but by an interval of real width
    lora = checks["LoRA >= full FT / 2"].margin
    assert lora.low < lora.point - 0.05 and lora.high > lora.point + 0.05
    # the same success rates on fewer episodes: wider intervals
    few = {name: matrix[:15] for name, matrix in episodes.items()}
    few_checks = check_targets({n: float(m.mean()) for n, m in few.items()}, few)
    for wide, narrow in zip(few_checks, checks.values(), strict=True):
        assert wide.margin.high - wide.margin.low > narrow.margin.high - narrow.margin.low


def test_targets_format_as_a_table_and_as_lines():
    measures = {"DT-Mem train": 0.56, "no memory train": 0.6133, "LoRA": 0.2, "full FT": 0.5}
    checks = check_targets(measures)
    table = format_targets(checks)
    assert table[0].startswith("| target | this run | needed | met |")
    assert "| DT-Mem >= no memory - 0.05 | 0.560 | 0.563 | no | -0.003 |" in table[3]
    assert checks[0].describe() == "DT-Mem train >= 0.5: 0.560 (needed 0.500) met, margin +0.060"
