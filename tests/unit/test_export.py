"""Exports: embeddings CSV, replayable JSON, weights, standalone figure HTML; and each refusal is one sentence."""

from __future__ import annotations

import csv
import io
import json
import math
import pickle
import re

import numpy as np
import pytest
import torch

from app import plots
from app.plots.export import figure_html
from toy_models import export
from toy_models.cli import main
from toy_models.train import MultiTrainer, TrainConfig, Trainer

QUICK = TrainConfig(hidden=16, num_threads=1, holdout_classes=(8, 9), snapshot_per_class=10)


def one_sentence(message: str) -> bool:
    """One line, one sentence: no traceback, no second full stop followed by more text."""
    return "\n" not in message and "Traceback" not in message and not re.search(r"\.\s+[A-Z]", message)


@pytest.fixture(scope="module")
def trained(one_thread):
    """A Trainer stopped inside its second epoch (as the app's Play leaves it): 30 steps."""
    trainer = Trainer(QUICK)
    trainer.advance(steps=30)
    return trainer


def replay_file(tmp_path, text: str, capsys) -> tuple[int, str, str]:
    path = tmp_path / "run.json"
    path.write_text(text)
    capsys.readouterr()
    status = main(["replay", str(path), "--quiet"])
    out, err = capsys.readouterr()
    return status, out, err


# -- nothing to export ----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [export.embeddings_csv, export.run_json, export.weights_bytes])
def test_export_before_training_is_one_sentence(function, one_thread):
    untrained = Trainer(QUICK)
    with pytest.raises(ValueError) as err:
        function(untrained)
    assert str(err.value) == export.NOTHING_YET and one_sentence(str(err.value))
    assert "Play or Step" in str(err.value)


# -- JSON -----------------------------------------------------------------------------------------------


def test_json_replays_to_the_same_metrics_through_the_cli(trained, tmp_path, capsys):
    text = export.run_json(trained)
    saved = json.loads(text)
    assert saved["command"] == "train" and saved["config"]["steps"] == 30 == trained.step
    assert saved["config"]["epochs"] == trained.epoch
    assert TrainConfig.from_dict({k: v for k, v in saved["config"].items() if k not in ("epochs", "steps")}) \
        == trained.initial_config
    assert saved["metrics"]["test_accuracy"] == pytest.approx(trained.evaluate_all()["test_accuracy"])
    assert "verification_auc" in saved["metrics"]  # classes 8 and 9 were held out
    status, out, err = replay_file(tmp_path, text, capsys)
    assert status == 0, err
    assert out.startswith("replay matches: 1 run(s)")


def test_a_multitrainer_member_exports_the_whole_comparison(tmp_path, capsys, one_thread):
    multi = MultiTrainer([QUICK.with_hot(), TrainConfig(**{**QUICK.to_dict(), "loss": "cosface",
                                                            "holdout_classes": (8, 9)})])
    multi.advance(steps=12)
    saved = json.loads(export.run_json(multi.members[1]))
    assert saved["command"] == "compare" and [r["loss"] for r in saved["runs"]] == ["arcface", "cosface"]
    status, out, err = replay_file(tmp_path, json.dumps(saved), capsys)
    assert status == 0, err
    assert out.startswith("replay matches: 2 run(s)")


def test_edited_config_out_of_range_is_one_sentence(trained, tmp_path, capsys):
    saved = json.loads(export.run_json(trained))
    saved["config"]["margin"] = 7.5
    status, out, err = replay_file(tmp_path, json.dumps(saved), capsys)
    assert status == 2 and out == ""
    message = err.removeprefix("error: ").strip()
    assert "the saved config is not valid" in message and "margin 7.5 is outside its valid range" in message
    assert err.count("\n") == 1


def test_edited_metric_is_named(trained, tmp_path, capsys):
    saved = json.loads(export.run_json(trained))
    saved["metrics"]["intra_deg"] = saved["metrics"]["intra_deg"] + 3.0
    status, _, err = replay_file(tmp_path, json.dumps(saved), capsys)
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("error: replay differs: arcface intra_deg was ")
    assert "was the file edited?" in err


def test_edited_metric_that_is_not_a_number_is_named(trained, tmp_path, capsys):
    saved = json.loads(export.run_json(trained))
    saved["metrics"]["test_accuracy"] = "high"
    status, _, err = replay_file(tmp_path, json.dumps(saved), capsys)
    assert status == 2 and err == f"error: {tmp_path / 'run.json'}: the saved metric 'test_accuracy' is not a number " \
                                  "('high')\n"


def test_a_run_whose_settings_changed_while_training_is_refused_by_replay(tmp_path, capsys, one_thread):
    trainer = Trainer(QUICK)
    trainer.advance(steps=5)
    trainer.set_hyper(margin=0.3)
    trainer.advance(steps=5)
    status, _, err = replay_file(tmp_path, export.run_json(trainer), capsys)
    assert status == 2 and err.count("\n") == 1
    assert "settings were changed while this run trained (step 5: margin 0.5 → 0.3)" in err


# -- CSV ------------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_sample_and_parses_back(trained):
    rows = list(csv.DictReader(io.StringIO(export.embeddings_csv(trained).decode())))
    data = trained.dataset
    test = [r for r in rows if r["split"] == "test"]
    held = [r for r in rows if r["split"] == "holdout"]
    assert len(test) == len(data.y_test) and len(held) == len(data.y_holdout) and len(rows) == len(test) + len(held)
    result = trained.evaluate_test()
    parsed = np.array([[float(r[f"x{i}"]) for i in range(3)] for r in test], dtype=np.float32)
    np.testing.assert_array_equal(parsed, result.embeddings)  # %.9g round-trips float32 exactly
    assert [int(r["label"]) for r in test] == result.labels.tolist()
    assert [int(r["prediction"]) for r in test] == result.predictions.tolist()
    assert {r["class_name"] for r in test} == set(data.class_names)
    assert {int(r["label"]) for r in held} == {8, 9} and {r["class_name"] for r in held} == {"8", "9"}
    assert all(r["prediction"] == "" for r in held)
    assert np.allclose(np.linalg.norm(parsed, axis=1), 1.0, atol=1e-5)


# -- weights --------------------------------------------------------------------------------------------


def test_weights_reload_with_weights_only_and_give_identical_outputs(trained, tmp_path):
    blob = export.weights_bytes(trained)
    payload = torch.load(io.BytesIO(blob), weights_only=True)  # the safe loader accepts the file as it is
    assert set(payload["backbone"]) == set(trained.backbone.state_dict())
    path = tmp_path / "weights.pt"
    path.write_bytes(blob)
    x = trained.dataset.x_test[:64]
    trained.backbone.eval()
    with torch.no_grad():
        expected = trained.backbone(x), trained.head(trained.backbone(x))
    trained.backbone.train()
    for source, target in ((blob, trained), (path, None), (io.BytesIO(blob), trained.config)):
        backbone, head = export.load_weights(source, target)
        assert backbone is not trained.backbone
        with torch.no_grad():
            features = backbone(x)
            assert torch.equal(features, expected[0])
            assert torch.equal(head(features), expected[1])


def test_a_file_that_is_not_a_state_dict_is_one_sentence(trained, tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (print, ("this would run on load",))

    not_weights = [b"hello, I am a text file", pickle.dumps(Sneaky()), b""]
    buffer = io.BytesIO()
    torch.save({"some": torch.zeros(2)}, buffer)  # a torch file, but not ours
    not_weights.append(buffer.getvalue())
    for blob in not_weights:
        with pytest.raises(ValueError) as err:
            export.load_weights(blob, trained)
        assert one_sentence(str(err.value)), str(err.value)
        assert "not" in str(err.value) and "weights" in str(err.value)
    with pytest.raises(ValueError, match="cannot read"):
        export.load_weights(tmp_path / "missing.pt")


def test_weights_of_another_shape_are_refused_in_one_sentence(trained, one_thread):
    other = TrainConfig(**{**QUICK.to_dict(), "holdout_classes": (8, 9), "embedding_dim": 2})
    with pytest.raises(ValueError) as err:
        export.load_weights(export.weights_bytes(trained), other)
    assert str(err.value).startswith("these weights do not fit a arcface model with a mlp backbone, a 2-D embedding")
    assert one_sentence(str(err.value))


# -- figures ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_spec", [False, True])
def test_figure_html_is_standalone_with_plotly_inlined(as_spec):
    figure = plots.target_logit_figure("arcface", 0.5, scale=30.0, as_spec=as_spec)
    html = figure_html(figure, title="Target logit")
    assert "<html>" in html[:40] and html.rstrip().endswith("</html>")
    assert "<title>Target logit</title>" in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing loaded from a CDN or anywhere else
    assert len(html) > 3_000_000 and "Plotly.newPlot" in html  # plotly.js itself is inside


def test_figure_html_refuses_what_is_not_a_figure():
    with pytest.raises(ValueError, match="a figure must be a plotly Figure or its dict, got list"):
        figure_html([1, 2, 3])


def test_a_multitrainer_members_weights_and_embeddings_export_alone(one_thread):
    multi = MultiTrainer(QUICK, losses=["softmax", "sphereface"])
    multi.advance(steps=8)
    member = multi.members[1]
    blob = export.weights_bytes(member)
    payload = torch.load(io.BytesIO(blob), weights_only=True)
    # the member's parameters are views of one stacked tensor: each is saved as its own small tensor
    assert all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in payload["backbone"].values())
    backbone, head = export.load_weights(blob)
    x = multi.dataset.x_test[:32]
    with torch.no_grad():
        assert torch.equal(backbone(x), member.backbone(x))
        assert torch.equal(head(backbone(x)), member.head(member.backbone(x)))
    rows = list(csv.DictReader(io.StringIO(export.embeddings_csv(member).decode())))
    assert len(rows) == len(multi.dataset.y_test) + len(multi.dataset.y_holdout)


def test_a_run_of_exactly_one_step_can_be_saved_and_one_of_none_cannot(one_thread):
    run = Trainer(QUICK)
    with pytest.raises(ValueError) as err:
        export.check_trained(run)
    assert str(err.value) == export.NOTHING_YET
    run.advance(steps=1)
    export.check_trained(run)  # one step: there is something to save


def test_a_metric_that_is_not_finite_is_saved_as_null(one_thread, monkeypatch):
    run = Trainer(QUICK)
    run.advance(steps=1)
    monkeypatch.setattr(run, "evaluate_all", lambda: {"notes": {}, "gone": math.nan, "far": math.inf, "kept": 0.5})
    record = export.run_record(run, epochs=0, steps=1)
    assert record["metrics"] == {"gone": None, "far": None, "kept": 0.5}
    json.dumps(record, allow_nan=False)  # strict JSON: no NaN or Infinity tokens
