"""`python -m toy_models`: the JSON contract of train and compare, replay, and one-line errors with status 2."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toy_models import cli
from toy_models.cli import main
from toy_models.train import TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[2]
METRIC_KEYS = {"train_accuracy", "test_accuracy", "w_ec_deg", "w_inter_deg", "intra_deg", "inter_deg"}
VERIFICATION_KEYS = {"verification_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"}
QUICK = ["--epochs", "2", "--quiet"]


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()  # the CLI sets one thread by default
    yield
    torch.set_num_threads(threads)


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def check_run_block(block: dict, *, verification: bool) -> None:
    assert {"config", "history", "metrics", "events"} <= set(block)
    expected = METRIC_KEYS | (VERIFICATION_KEYS if verification else set())
    assert expected <= set(block["metrics"])
    for key in expected:
        assert isinstance(block["metrics"][key], float) and math.isfinite(block["metrics"][key]), key
    history = block["history"]
    assert history["epoch"] == [0, 1, 2]
    assert all(math.isfinite(v) for name in ("loss", "train_accuracy", "test_accuracy") for v in history[name])
    assert block["config"]["epochs"] == 2


def test_train_writes_the_json_contract_and_the_config_replays(tmp_path, capsys):
    path = tmp_path / "run.json"
    status, out, err = run_main(capsys, "train", "--loss", "cosface", "--margin", "0.3", "--holdout-classes", "8,9",
                                "--json", str(path), *QUICK)
    assert status == 0 and err == ""
    assert "cosface on digits" in out and "test" in out
    saved = json.loads(path.read_text())
    assert saved["command"] == "train" and saved["loss"] == "cosface"
    check_run_block(saved, verification=True)
    assert saved["config"]["margin"] == 0.3 and saved["config"]["scale"] == 16.0  # resolved, replayable

    # Replaying the config by hand gives the very same metrics ...
    values = dict(saved["config"])
    epochs = values.pop("epochs")
    trainer = Trainer(TrainConfig.from_dict(values))
    trainer.advance(epochs=epochs)
    fresh = trainer.evaluate_all()
    for key in METRIC_KEYS | VERIFICATION_KEYS:
        assert fresh[key] == saved["metrics"][key], key
    # ... and so does the replay command.
    status, out, _ = run_main(capsys, "replay", str(path), "--quiet")
    assert status == 0 and "replay matches" in out


def test_compare_writes_one_block_per_loss(tmp_path, capsys):
    path = tmp_path / "compare.json"
    status, out, _ = run_main(capsys, "compare", "--margin", "arcface=0.4", "--json", str(path), *QUICK)
    assert status == 0
    saved = json.loads(path.read_text())
    assert saved["command"] == "compare"
    assert [run["loss"] for run in saved["runs"]] == ["softmax", "sphereface", "cosface", "arcface"]
    for run in saved["runs"]:
        check_run_block(run, verification=False)
    assert saved["runs"][3]["config"]["margin"] == 0.4
    assert all(name in out for name in ("softmax", "sphereface", "cosface", "arcface"))
    status, out, _ = run_main(capsys, "replay", str(path), "--quiet")
    assert status == 0 and "4 run(s)" in out


def test_softmax_accuracies_in_the_json_are_the_heads_own_predictions(tmp_path, capsys):
    """The command line reports what the model predicts: for softmax the argmax of W·x + b, not the nearest
    class weight by angle (which disagrees with it on digits: see test_train)."""
    path = tmp_path / "softmax.json"
    assert main(["train", "--loss", "softmax", "--json", str(path), *QUICK]) == 0
    saved = json.loads(path.read_text())
    values = dict(saved["config"])
    trainer = Trainer(TrainConfig.from_dict({k: v for k, v in values.items() if k != "epochs"}))
    trainer.advance(epochs=values["epochs"])
    dataset = trainer.dataset
    with torch.no_grad():
        for split, x, y in (("test", dataset.x_test, dataset.y_test), ("train", dataset.x_train, dataset.y_train)):
            own = (trainer.head(trainer.backbone(x)).argmax(1) == y).float().mean().item()
            assert saved["metrics"][f"{split}_accuracy"] == pytest.approx(own, abs=1e-6), split
    assert saved["history"]["test_accuracy"][-1] == saved["metrics"]["test_accuracy"]


def test_replay_reports_a_mismatch(tmp_path, capsys):
    path = tmp_path / "run.json"
    assert main(["train", "--json", str(path), *QUICK]) == 0
    saved = json.loads(path.read_text())
    saved["metrics"]["test_accuracy"] = 0.123
    path.write_text(json.dumps(saved))
    status, _, err = run_main(capsys, "replay", str(path), "--quiet")
    assert status == 1 and err.startswith("error: replay differs: arcface test_accuracy was 0.123")


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--loss", "magface"],
        ["train", "--scale", "0"],
        ["train", "--scale", "-3"],
        ["train", "--loss", "arcface", "--margin", "2.0"],
        ["train", "--loss", "cosface", "--margin", "-0.2"],
        ["train", "--loss", "combined", "--margin", "0.5"],
        ["train", "--loss", "arcface", "--margin", "0.1,0.2,0.3"],
        ["train", "--loss", "softmax", "--margin", "0.3"],
        ["train", "--margin", "abc"],
        ["train", "--dataset", "cifar10"],
        ["train", "--dataset", "mnist", "--data-dir", "/no/such/folder"],
        ["train", "--dataset", "mnist"],
        ["train", "--backbone", "resnet"],
        ["train", "--holdout-classes", "12"],
        ["train", "--holdout-classes", "0,1,2,3,4,5,6,7,8"],
        ["train", "--holdout-classes", "8,x"],
        ["train", "--lr", "fast"],
        ["train", "--lr", "0"],
        ["train", "--epochs", "ten"],
        ["train", "--epochs", "-1"],
        ["train", "--batch-size", "0"],
        ["train", "--dim", "1"],
        ["train", "--device", "cuda"] if not torch.cuda.is_available() else ["train", "--device", "tpu"],
        ["train", "--unknown-flag"],
        ["compare", "--losses", "softmax,magface"],
        ["compare", "--margin", "0.3"],
        ["compare", "--margin", "cosface=2"],
        ["replay", "/no/such/run.json"],
        [],
        ["fly"],
    ],
)
def test_bad_arguments_exit_2_with_one_error_line(capsys, argv):
    status, out, err = run_main(capsys, *argv, *(["--quiet"] if argv and argv[0] in ("train", "compare") else []))
    assert status == 2, (argv, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "usage:" not in err
    assert out == ""


@pytest.mark.slow
def test_errors_through_a_real_process():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for argv in (["train", "--loss", "magface"], ["train", "--scale", "-1"]):
        done = subprocess.run([sys.executable, "-m", "toy_models", *argv], capture_output=True, text=True,
                              cwd=REPO, env=env, timeout=120)
        assert done.returncode == 2
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    helped = subprocess.run([sys.executable, "-m", "toy_models", "train", "--help"], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=120)
    assert helped.returncode == 0 and "--holdout-classes" in helped.stdout


def test_an_unexpected_failure_is_one_line_with_status_1(monkeypatch, capsys):
    def broken(self, *args, **kwargs):
        raise RuntimeError("the disk is on fire\nsecond line")

    monkeypatch.setattr(Trainer, "advance", broken)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    status, _, err = run_main(capsys, "train", *QUICK)
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("error: the disk is on fire second line (RuntimeError")
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="disk is on fire"):
        main(["train", *QUICK])


def test_progress_goes_to_stderr_unless_quiet(monkeypatch, capsys):
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)  # "longer than a second", without waiting a second
    status, out, err = run_main(capsys, "train", "--epochs", "1")
    assert status == 0 and "\r[" in err and "epoch 1/1" in err and "\r" not in out
    assert re.search(r" loss \d\.\d{3} ", err), err  # one run: its loss; a comparison names each loss
    status, _, err = run_main(capsys, "compare", "--losses", "softmax,arcface", "--epochs", "1")
    assert status == 0 and re.search(r" softmax:\d\.\d{3} arcface:\d\.\d{3} ", err), err
    status, _, err = run_main(capsys, "train", "--epochs", "1", "--quiet")
    assert status == 0 and err == ""


def test_a_receipt_key_of_exactly_the_minimum_length_is_read_and_one_shorter_is_not(tmp_path):
    from app.course.cli import UsageError, _receipt_key
    from app.course.record import MIN_RECEIPT_KEY

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'receipt_key = "{"k" * MIN_RECEIPT_KEY}"\n')
    assert _receipt_key(secrets) == "k" * MIN_RECEIPT_KEY
    secrets.write_text(f'receipt_key = "{"k" * (MIN_RECEIPT_KEY - 1)}"\n')
    with pytest.raises(UsageError, match=f"must be text of at least {MIN_RECEIPT_KEY} characters"):
        _receipt_key(secrets)


def test_a_listed_prompt_of_exactly_the_width_is_whole_and_one_longer_is_cut():
    from app.course.cli import _short

    assert _short("x" * 90) == "x" * 90
    assert _short("x" * 91) == "x" * 89 + "…" and len(_short("x" * 91)) == 90


def test_zero_epochs_is_a_run_that_trains_nothing(capsys, tmp_path):
    path = tmp_path / "zero.json"
    status, _, err = run_main(capsys, "train", "--epochs", "0", "--quiet", "--json", str(path))
    assert status == 0 and err == ""
    assert json.loads(path.read_text())["config"]["epochs"] == 0


def test_a_difference_of_exactly_the_tolerance_matches_and_one_just_over_it_does_not(tmp_path, capsys):
    path = tmp_path / "run.json"
    assert main(["train", "--json", str(path), *QUICK]) == 0
    saved = json.loads(path.read_text())
    saved["metrics"]["test_accuracy"] += 0.25  # exactly representable: the difference is exactly 0.25
    path.write_text(json.dumps(saved))
    status, out, err = run_main(capsys, "replay", str(path), "--quiet", "--tolerance", "0.25")
    assert status == 0 and "replay matches" in out and "largest difference 0.25" in out, (out, err)
    status, _, err = run_main(capsys, "replay", str(path), "--quiet", "--tolerance", "0.2499")
    assert status == 1 and "more than the tolerance 0.2499" in err


def test_a_saved_run_of_exactly_0_steps_replays(tmp_path, capsys):
    path = tmp_path / "zero.json"
    assert main(["train", "--epochs", "0", "--quiet", "--json", str(path)]) == 0
    saved = json.loads(path.read_text())
    saved["config"]["steps"] = 0  # steps (exact) win over epochs; 0 is a length, not an error
    path.write_text(json.dumps(saved))
    status, out, err = run_main(capsys, "replay", str(path), "--quiet")
    assert status == 0 and "replay matches" in out, (out, err)
    saved["config"]["steps"] = -1
    path.write_text(json.dumps(saved))
    status, _, err = run_main(capsys, "replay", str(path), "--quiet")
    assert status == 2 and "'steps' in the config must be a non-negative integer, got -1" in err
