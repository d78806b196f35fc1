"""The Playground page through AppTest: rendering, URL state, hot/cold changes, the run loop, figures."""

from __future__ import annotations

import re

import pytest
import torch
from apphelpers import ROOT, decode, epoch, figure, k, margin_widget, metric, run_state, start, texts

from app import state
from app.components.live_plotly import decode_array
from toy_models.heads import LOSSES


def _no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _weights(trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*trainer.backbone.parameters(), *trainer.head.parameters()]]


# ------------------------------------------------------------------------------------------------
# Rendering


@pytest.mark.parametrize("dim", ["2", "3"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_renders_in_both_dims(loss, dim):
    at = start({"loss": loss, "dim": dim})
    _no_exception(at)
    assert at.selectbox(key=k("loss")).value == loss
    assert at.radio(key=k("embedding_dim")).value == int(dim)
    assert epoch(at) == 0
    # Every chart is a live chart (updated in place, so nothing blanks between ticks).
    for key in ("sphere", "angle-hist", "curves", "target-logit", "decision"):
        assert figure(at, key)["data"]
    labels = {m.label for m in at.metric}
    assert {"Epoch", "W-EC", "W-Inter", "Intra", "Inter", "Closest centres"} <= labels
    assert "Tammes bound" in labels


def test_default_page_is_arcface_3d_digits_with_labelled_sliders(app):
    assert at_values(app) == ("arcface", 3, "digits")
    margin = app.select_slider(key=k("margin"))
    assert margin.label == "Margin m (rad)"
    assert margin.format_func(margin.value) == "0.50 rad · 28.6°"  # degrees on the thumb itself
    assert app.slider(key=k("scale")).label == "Scale s"
    assert metric(app, "Tammes bound") == "66.1°"
    # The URL always holds the whole setup, seed included.
    assert dict(app.query_params) == {"loss": "arcface", "margin": "0.5", "scale": "16", "gradient": "detached",
                                      "lr": "0.01", "embedding_dim": "3", "dataset": "digits", "backbone": "mlp",
                                      "batch_size": "64", "seed": "0", "pace": "watch"}
    link = app.code[0].value
    assert "seed=0" in link and "loss=arcface" in link and link.startswith("http")


def test_the_page_says_where_the_model_trains_and_why(app):
    """Digits on the MLP train on the CPU on any machine; the status line under the run bar ends saying why (one
    line across the page: a line of its own would push the statistics off a laptop's screen)."""
    [line] = [c for c in texts(app.caption) if "CPU: " in c]
    assert line.startswith("Training ArcFace")
    expected = ("CPU: faster than the GPU for a 2-layer MLP on 1,797 digits" if torch.cuda.is_available()
                else "CPU: there is no GPU on this machine.")
    assert expected in line and line.index("CPU: ") > line.index("Training ArcFace")


def at_values(at):
    return (at.selectbox(key=k("loss")).value, at.radio(key=k("embedding_dim")).value,
            at.selectbox(key=k("dataset")).value)


# ------------------------------------------------------------------------------------------------
# URL state


def test_url_seeds_the_widgets():
    at = start({"loss": "cosface", "m": "0.15", "s": "20", "lr": "0.001", "dim": "2", "seed": "7", "batch": "32",
                "backbone": "cnn"})
    _no_exception(at)
    assert at.selectbox(key=k("loss")).value == "cosface"
    assert at.slider(key=k("margin")).value == pytest.approx(0.15)
    assert at.slider(key=k("margin")).label == "Margin m (cosine)"
    assert at.slider(key=k("scale")).value == 20
    assert at.select_slider(key=k("lr")).value == 0.001
    assert at.radio(key=k("embedding_dim")).value == 2
    assert at.number_input(key=k("seed")).value == 7
    assert at.select_slider(key=k("batch_size")).value == 32
    assert at.radio(key=k("backbone")).value == "cnn"
    assert not [w for w in texts(at.warning) if w.startswith("URL")]  # nothing to correct
    trainer = run_state(at).trainer
    assert (trainer.config.loss, trainer.config.margin, trainer.config.seed) == ("cosface", 0.15, 7)


# The page's part of a bad link: the notice is on the page, the widget shows the value used, and the address bar
# is corrected, so a reload is quiet. One case per kind of widget and a repeated key (the page reads every value
# of a key); every other malformed value is checked on app.state, as the page reads it, in
# tests/unit/test_state.py (test_malformed_url_values_are_named_and_replaced).
MALFORMED = [
    ({"m": "9"}, "m", 1.57, "m=9"),  # a select_slider (ArcFace's margin stops)
    ({"s": "0"}, "s", 1.0, "s=0"),  # a slider
    ({"dim": "7"}, "dim", 3, "dim=7"),  # a radio
    ({"seed": "1.5"}, "seed", 0, "seed=1.5"),  # a number input
    ({"loss": "tripletface"}, "loss", "arcface", "loss=tripletface"),  # a selectbox
    ({"m": ["0.3", "0.4"]}, "m", 0.4, "appears 2 times"),
]


def _widget_value(at, key):
    name = state.control_name(key) or key  # the link's key may be an alias ("m" for margin)
    for finder in (at.slider, at.selectbox, at.radio, at.number_input, at.select_slider):
        try:
            return finder(key=k(name)).value
        except KeyError:
            continue
    raise KeyError(key)


@pytest.mark.parametrize(("query", "key", "shown", "words"), MALFORMED, ids=[m[3][:20] for m in MALFORMED])
def test_malformed_url_values_are_named_and_clamped(query, key, shown, words):
    at = start(query)
    _no_exception(at)
    notices = texts(at.warning)
    assert sum(words in n for n in notices) == 1, notices
    if key is not None:
        value = _widget_value(at, key)
        assert value == pytest.approx(shown) if isinstance(shown, float) else value == shown
    # The address bar is corrected to the values actually used: a reload gives no new notices.
    again = start(dict(at.query_params))
    _no_exception(again)
    assert not any("URL" in n for n in texts(again.warning))


def test_all_bad_values_at_once_give_one_line_each():
    query = {"m": "9", "s": "0", "lr": "nan", "dim": "7", "dataset": "../../etc", "seed": "-1", "unknown": "1",
             "batch": "abc"}
    at = start(query)
    _no_exception(at)
    notices = [n for n in texts(at.warning) if n.startswith("URL")]
    assert len(notices) == len(query)
    assert all("\n" not in n for n in notices)
    # Any change by the user retires the notices: they describe the link, not the page.
    at.slider(key=k("scale")).set_value(20.0).run()
    assert not [n for n in texts(at.warning) if n.startswith("URL")]


@pytest.mark.slow
def test_junk_in_every_key_never_raises():
    """Markup, control characters and absurd numbers in every key at once: no exception, one line per notice.
    (Random links by the thousand go through app.state in tests/unit/test_state.py, which proves every value the
    page is then given is inside its control's range.)"""
    query = {"loss": "bogus", "m": "<script>", "s": ":red[x]", "lr": "$x$", "dim": "\u202e", "dataset": "*",
             "seed": "1" * 400, "batch": "1e999", "backbone": "-0.0", "grad": "", "zz": "nan"}
    at = start(query)
    _no_exception(at)
    notices = [n for n in texts(at.warning) if n.startswith("URL")]
    assert len(notices) == len(query) and all("\n" not in n for n in notices), notices
    for loss in ("combined", "sphereface"):  # the keys only these losses have
        _no_exception(start({"loss": loss, "m1": "1e999", "m2": "-0.0", "m3": "<script>", "form": ":red[x]"}))


# ------------------------------------------------------------------------------------------------
# Hot and cold changes


def test_hot_change_keeps_the_model():
    at = start({"dim": "2"})
    at.button(key=k("step")).click().run()
    at.button(key=k("step")).click().run()
    trainer, before = run_state(at).trainer, _weights(run_state(at).trainer)
    assert epoch(at) == 2
    at.select_slider(key=k("margin")).set_value(0.3).run()
    _no_exception(at)
    assert run_state(at).trainer is trainer
    assert epoch(at) == 2
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))
    assert trainer.config.margin == pytest.approx(0.3) and trainer.head.margin == pytest.approx(0.3)
    assert at.query_params["margin"] == "0.3"
    assert any("no reset" in c and "margin" in c for c in texts(at.caption))
    # The same for the scale and the learning rate.
    at.slider(key=k("scale")).set_value(24.0).run()
    at.select_slider(key=k("lr")).set_value(0.002).run()
    assert run_state(at).trainer is trainer and epoch(at) == 2
    assert (trainer.config.scale, trainer.config.lr) == (24.0, 0.002)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.002


def test_cold_change_rebuilds_visibly():
    at = start()
    at.button(key=k("step")).click().run()
    trainer = run_state(at).trainer
    assert epoch(at) == 1
    at.radio(key=k("embedding_dim")).set_value(2).run()
    _no_exception(at)
    assert run_state(at).trainer is not trainer
    assert epoch(at) == 0
    message = "Embedding dim changed: model rebuilt from seed 0."
    # It opens the one status line above the views (a line of its own pushed the statistics off a laptop screen).
    [status] = [c for c in texts(at.caption) if message in c]
    assert status.startswith(message) and "Training ArcFace" in status
    assert message in [t.value for t in at.toast]
    assert run_state(at).trainer.config.embedding_dim == 2
    at.number_input(key=k("seed")).set_value(5).run()
    assert any(c.startswith("Seed changed: model rebuilt from seed 5.") for c in texts(at.caption))
    assert at.query_params["seed"] == "5"


def test_switching_loss_starts_from_that_losses_margin():
    at = start({"m": "0.6"})
    at.selectbox(key=k("loss")).select("cosface").run()
    _no_exception(at)
    assert at.slider(key=k("margin")).value == pytest.approx(0.35)
    assert at.slider(key=k("margin")).label == "Margin m (cosine)"
    assert run_state(at).trainer.config.loss == "cosface"
    at.selectbox(key=k("loss")).select("combined").run()
    assert [margin_widget(at, key).value for key in ("m1", "m2", "m3")] == pytest.approx([1.0, 0.3, 0.2])
    assert run_state(at).trainer.config.margin == pytest.approx((1.0, 0.3, 0.2))  # one value, slider to head
    assert at.query_params["margin"] == "1,0.3,0.2"
    at.select_slider(key=k("m2")).set_value(0.4).run()
    assert run_state(at).trainer.config.margin == pytest.approx((1.0, 0.4, 0.2))
    at.selectbox(key=k("loss")).select("softmax").run()
    _no_exception(at)
    assert "scale" not in at.query_params and "margin" not in at.query_params


# ------------------------------------------------------------------------------------------------
# Play / Pause / Step / Reset


@pytest.mark.slow
def test_play_pause_step_reset():
    at = start()
    assert at.button(key=k("play")).label == "Play"
    at.button(key=k("play")).click().run()
    assert run_state(at).playing and at.button(key=k("play")).label == "Pause"
    seen = [epoch(at)]
    for _ in range(3):
        at.run()  # one fragment tick per run
        seen.append(epoch(at))
    assert seen == sorted(seen) and seen[-1] > seen[0] >= 0, seen
    at.button(key=k("play")).click().run()  # pause
    paused = epoch(at)
    at.run()
    at.run()
    assert epoch(at) == paused and not run_state(at).playing
    at.button(key=k("step")).click().run()
    assert epoch(at) == paused + 1
    at.button(key=k("play")).click().run()
    at.button(key=k("step")).click().run()  # Step pauses
    assert not run_state(at).playing
    at.button(key=k("reset")).click().run()
    assert epoch(at) == 0 and not run_state(at).playing
    assert any(c.startswith("Reset: model rebuilt from seed 0.") for c in texts(at.caption))


@pytest.mark.slow
def test_divergence_is_announced_and_training_goes_on():
    at = start({"dim": "2"})
    at.button(key=k("play")).click().run()
    trainer = run_state(at).trainer
    # A real divergence: a weight becomes non-finite, and the trainer's own guard must catch it.
    with torch.no_grad():
        next(trainer.backbone.parameters()).view(-1)[0] = float("nan")
    before = epoch(at)
    at.run()  # the guard catches it while this tick trains (or at once, if the tick's snapshot is new)
    at.run()  # the next tick shows what the trainer recorded
    _no_exception(at)
    warnings = texts(at.warning)
    assert any("diverged at step" in w and "training goes on" in w for w in warnings), warnings
    assert any("diverged at step" in t.value for t in at.toast)
    assert all(torch.isfinite(p).all() for p in trainer.backbone.parameters())
    at.run()
    assert run_state(at).playing and epoch(at) >= before


@pytest.mark.slow
def test_auto_pause_after_idle_and_at_the_epoch_cap(monkeypatch):
    import app.live.base as session

    at = start({"dim": "2"})
    # Every at.run() is a full run, which counts as an interaction; in the browser the ticks are
    # fragment-only runs, which do not. So shrink the idle limit instead of waiting it out.
    monkeypatch.setattr(session, "IDLE_PAUSE_S", -1)
    at.button(key=k("play")).click().run()
    _no_exception(at)
    assert not run_state(at).playing
    assert any("without interaction" in i for i in texts(at.info))

    monkeypatch.setattr(session, "IDLE_PAUSE_S", 600)
    monkeypatch.setattr(session, "MAX_EPOCHS", 2)
    at.button(key=k("play")).click().run()
    for _ in range(4):
        at.run()
    assert not run_state(at).playing
    assert any("Play trains at most 2 epochs at a time" in i for i in texts(at.info))
    capped = epoch(at)
    assert capped == 2  # the cap's equality case: it pauses at exactly MAX_EPOCHS epochs after Play, not one later

    # Play goes on, as the message says (it paused again at once before), and the box goes.
    at.button(key=k("play")).click().run()
    assert run_state(at).playing and not any("Paused automatically" in i for i in texts(at.info))
    for _ in range(6):
        at.run()
    assert epoch(at) > capped
    # A rebuilt model is a fresh run: the box about the old one goes.
    if run_state(at).playing:
        at.button(key=k("play")).click().run()
    run_state(at).auto_paused = "Paused automatically at epoch 9: about the model being replaced."
    at.number_input(key=k("seed")).set_value(3).run()
    assert not any("Paused automatically" in i for i in texts(at.info))


# ------------------------------------------------------------------------------------------------
# Figures and geometry


def test_sphere_view_gets_the_snapshot_points():
    at = start()
    snap = run_state(at).trainer.snapshot()
    sphere = figure(at, "sphere")
    points = sum(len(decode_array(t["x"])) for t in sphere["data"] if t.get("type") == "scatter3d"
                 and t.get("mode", "") == "markers")
    assert points >= len(snap.labels)
    assert len(snap.labels) <= 10 * run_state(at).trainer.config.snapshot_per_class  # a capped sample

    at2 = start({"dim": "2"})
    circle = figure(at2, "sphere")
    snap2 = run_state(at2).trainer.snapshot()
    xs = [decode(t["x"]) for t in circle["data"] if t.get("mode") == "markers"]
    assert sum(len(x) for x in xs) >= len(snap2.labels)


def test_instant_views_follow_the_margin_without_training():
    at = start({"dim": "2"})
    before = figure(at, "target-logit")
    at.select_slider(key=k("margin")).set_value(0.6).run()
    after = figure(at, "target-logit")
    assert epoch(at) == 0
    assert before["data"] != after["data"]
    at.slider(key=k("scale")).set_value(32.0).run()
    assert figure(at, "target-logit")["data"] != after["data"]  # the scale too
    assert figure(at, "decision")["data"] and epoch(at) == 0


@pytest.mark.slow
def test_geometry_warning_names_the_limit():
    at = start({"dim": "2", "m": "0.8"})
    warnings = texts(at.warning)
    assert any("m = 0.80 rad leaves no room" in w and "10 classes on a circle" in w and "0.63 rad (36.0°)" in w
               for w in warnings), warnings
    at = start({"dim": "3", "m": "0.8"})
    assert not any("leaves no room" in w for w in texts(at.warning))
    assert any("Workable for 10 classes on a sphere: m < 1.15 rad (66.1°)" in c for c in texts(at.caption))
    at = start({"loss": "cosface", "dim": "2", "m": "0.35"})
    assert any("m = 0.35 leaves no room" in w and "below 0.19" in w for w in texts(at.warning))
    at = start({"s": "3"})
    assert any("s = 3 caps the probability" in w for w in texts(at.warning))


def test_tammes_and_centre_angles_are_shown():
    at = start({"dim": "2"})
    assert metric(at, "Tammes bound") == "36.0°"
    stats = run_state(at).trainer.snapshot().angle_stats
    assert metric(at, "Closest centres") == f"{stats['min_center_angle_deg']:.1f}°"


# ------------------------------------------------------------------------------------------------
# Data


def test_mnist_without_a_folder_falls_back_to_digits(monkeypatch):
    monkeypatch.delenv("MARGIN_LAB_DATA", raising=False)
    at = start({"dataset": "mnist", "dim": "2"})
    _no_exception(at)
    assert at.selectbox(key=k("dataset")).value == "mnist"  # the choice stays; the folder can still be given
    notices = [w for w in texts(at.warning) if "needs a folder" in w]
    assert len(notices) == 1 and "Training on digits meanwhile" in notices[0] and "\n" not in notices[0]
    assert "sidebar" in notices[0] and "data_dir" not in notices[0]  # no internal names, no "below"
    assert run_state(at).trainer.dataset.name == "digits"
    at.text_input(key=k("data")).input("/no/such/folder").run()
    _no_exception(at)
    assert any("/no/such/folder" in w for w in texts(at.warning))


def test_config_keeps_torch_and_the_watcher_quiet(app):
    from app.compat import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["runOnSave"] is False
    assert config["browser"]["gatherUsageStats"] is False
    # One torch thread per session (many sessions share the cores): the entry point sets it for the
    # script thread, and every trainer the page builds asks for it too. (torch's thread count is
    # per-thread state under OpenMP, so the test thread's own value says nothing.)
    assert "torch.set_num_threads(1)" in (ROOT / "streamlit_app.py").read_text()
    assert run_state(app).trainer.config.num_threads == 1
    # One colour-blind-safe palette everywhere: the theme repeats app.plots' colours.
    from app.plots import PALETTE, TARGET_COLOR

    assert config["theme"]["primaryColor"] == TARGET_COLOR
    assert tuple(config["theme"]["chartCategoricalColors"]) == PALETTE


SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.mark.data
@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no ../shared/data/fashion-mnist here")
def test_fashion_mnist_from_the_data_folder(monkeypatch):
    monkeypatch.setenv("MARGIN_LAB_DATA", str(SHARED_DATA))
    at = start({"dataset": "fashion-mnist", "dim": "2"})
    _no_exception(at)
    assert not [w for w in texts(at.warning) if "could not be loaded" in w]
    trainer = run_state(at).trainer
    assert trainer.dataset.name == "fashion-mnist" and trainer.dataset.input_shape == (1, 28, 28)
    at.button(key=k("step")).click().run()
    assert epoch(at) == 1


# ------------------------------------------------------------------------------------------------
# What a teacher would find misleading (issue 7, point 6)


def test_gradient_mode_is_a_visible_control_and_the_page_says_which_runs():
    at = start()
    control = at.radio(key=k("gradient"))
    assert control.value == "detached" and control.label == "Margin gradient"
    assert "insightface" in control.help and "pytorch-metric-learning" in control.help and "lesson 9" in control.help
    assert any("straight-through margin gradient" in c for c in texts(at.caption))
    trainer = run_state(at).trainer
    control.set_value("true").run()
    _no_exception(at)
    assert run_state(at).trainer is trainer and trainer.config.gradient == "true"  # hot: no rebuild
    assert any("true margin gradient" in c for c in texts(at.caption))
    assert at.query_params["gradient"] == "true"
    # The preset that reproduces the trap: seed 0, true gradient, ArcFace on 3-D digits.
    assert start({"grad": "true", "seed": "0"}).session_state[k("run")].trainer.config.gradient == "true"


@pytest.mark.slow
def test_scale_warning_knows_the_dimension():
    two = texts(start({"dim": "2"}).warning)  # the default s = 16
    assert any("s = 16 caps the probability" in w and "27.7" in w and "every class" in w for w in two), two
    three = texts(start({"dim": "3"}).warning)
    assert not any("caps the probability" in w for w in three), three
    low = texts(start({"dim": "3", "s": "8"}).warning)
    assert any("s = 8 caps the probability" in w and "10.1" in w for w in low), low


@pytest.mark.slow
def test_sphereface_original_form_has_no_scale_and_shows_lambda_live():
    at = start({"loss": "sphereface", "form": "original", "m": "4"})
    _no_exception(at)
    with pytest.raises(KeyError):
        at.slider(key=k("scale"))
    assert any("‖x‖" in c for c in texts(at.caption))
    assert not any("caps the probability" in w for w in texts(at.warning))
    curve = figure(at, "target-logit")
    assert "cosine units" in curve["layout"]["yaxis"]["title"]["text"]
    assert any("λ = 1000 at step 0" in c for c in texts(at.caption))  # not "1e+03": one formatter everywhere
    at.button(key=k("play")).click().run()

    def shown_lambda() -> float:
        (caption,) = [c for c in texts(at.caption) if "λ = " in c and "at step" in c]
        return float(re.search(r"λ = ([0-9.e+]+) at step", caption).group(1))

    seen = []
    for _ in range(3):
        at.run()  # a tick: draws the model as it is, then trains on
        seen.append(shown_lambda())
    assert seen == sorted(seen, reverse=True) and seen[-1] < seen[0] < 1000, seen
    # The target-logit view follows λ while playing (its fragment ticks in this form only).
    subtitle = figure(at, "target-logit")["layout"]["title"]["subtitle"]["text"]
    printed = re.search(r"λ = ([0-9.e+]+)", subtitle).group(1)
    assert float(printed) < 1000
    # Printed as the status line prints it: whole above 100, else three significant digits (not "123.457").
    assert "e" not in printed and len(printed.replace(".", "").lstrip("0")) <= 3, printed


def test_softmax_says_what_the_angle_views_mean():
    at = start({"loss": "softmax"})
    assert any("W·x + b" in c and "directions of x and W" in c for c in texts(at.caption))


def test_the_pace_is_in_the_link_and_a_bad_one_is_one_sentence():
    at = start({"pace": "max"})
    assert at.selectbox(key=k("pace")).value == "max" and at.query_params["pace"] in ("max", ["max"])
    at.selectbox(key=k("pace")).set_value("steady").run()
    assert at.query_params["pace"] in ("steady", ["steady"])
    bad = start({"pace": "warp"})
    assert bad.selectbox(key=k("pace")).value == "watch"
    assert any("pace='warp' is not a pace" in w for w in texts(bad.warning)), texts(bad.warning)
