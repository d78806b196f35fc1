"""The Compare page's statistics table (a pure function of the members' snapshots): test accuracy reads
"not yet" until the first step and is a number from step 1."""

from __future__ import annotations

from types import SimpleNamespace

from app.compare.unit import statistics_table
from toy_models.train import TrainConfig

STATS = {"w_ec_deg": 80.0, "w_inter_deg": 70.0, "intra_deg": 20.0, "inter_deg": 75.0, "min_center_angle_deg": 30.0}


def snapshot(step: int, accuracy: float) -> SimpleNamespace:
    return SimpleNamespace(step=step, test_accuracy=accuracy, angle_stats=STATS, class_names=tuple("0123456789"))


def test_test_accuracy_is_not_yet_at_step_0_and_a_number_from_step_1():
    configs = [TrainConfig(loss="softmax"), TrainConfig(loss="arcface")]
    rows = statistics_table([snapshot(0, 0.0), snapshot(1, 0.4567)], configs, dim=2)
    assert [row["Test accuracy (%)"] for row in rows] == ["not yet", "45.7"]
    assert rows[1]["Tammes bound (°)"] == 36.0  # ten centres on a circle: 360° / 10
