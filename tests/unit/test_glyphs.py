"""The glyphs dataset: the shipped renderings, bit-identical jitter, the disk cache, load_dataset and training."""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
import zipfile

import numpy as np
import pytest
import torch

from toy_models import glyphs
from toy_models.cli import build_parser
from toy_models.data import DatasetError, load_dataset
from toy_models.train import TrainConfig, Trainer
from toy_models.train.loop import load_checked_dataset

K_MAX, HELD = glyphs.TRAIN_IDENTITIES, glyphs.HOLDOUT_IDENTITIES
# sha256 of jitter_samples(table, identities 0, 1, 2, 150, 360, 6 samples each, seed 0): the same bytes on every
# platform (raw PCG64 words; float64 + - * / floor rint only). A change to the jitter changes it: bump
# glyphs.SAMPLES_VERSION (it names the cache files) and pin the new value.
PINNED_SAMPLES_SHA256 = "76cd076e7648a579fc570ebd4c6b2eefd3832b105ce81e31f9ce4276b5e90c74"
PINNED_IDENTITIES = [0, 1, 2, 150, 360]


@pytest.fixture(autouse=True, scope="module")
def cache_in_tmp(tmp_path_factory):
    """Generated samples go to a temporary cache, never the user's ~/.margin-lab."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(glyphs.CACHE_ENV, str(tmp_path_factory.mktemp("glyph-cache")))
        glyphs.all_samples.cache_clear()
        yield
        glyphs.all_samples.cache_clear()


def _sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# The shipped renderings


def test_shipped_file_is_small_and_holds_the_promised_identities():
    assert glyphs.GLYPH_FILE.stat().st_size <= 5_000_000
    table = glyphs.glyph_table()
    assert table.bitmaps.shape == (K_MAX + HELD, len(table.faces), 28, 28) and table.bitmaps.dtype == np.uint8
    assert len(table.faces) == 16 and table.num_holdout == HELD == round(0.2 * (K_MAX + HELD))
    assert len(set(table.codepoints.tolist())) == K_MAX + HELD  # one identity per code point
    assert all(table.bitmaps[i, f].max() > 0 for i in range(len(table.codepoints)) for f in range(16))


def test_no_two_identities_look_alike_and_latin_o_stands_for_its_homoglyphs():
    from toy_models.glyph_build import LOOKALIKE_SIMILARITY, similarity

    table = glyphs.glyph_table()
    close = similarity(table.bitmaps)
    np.fill_diagonal(close, 0.0)
    assert close.max() < LOOKALIKE_SIMILARITY
    chars = {chr(c) for c in table.codepoints}
    assert "O" in chars and "\u039f" not in chars and "\u041e" not in chars  # Greek Ο, Cyrillic О: look-alikes
    assert "0" in chars  # O and 0 differ at 28×28 (similarity 0.77)


def test_a_damaged_or_missing_renderings_file_is_refused_in_one_sentence(tmp_path, monkeypatch):
    missing = tmp_path / "nothing.npz"
    with pytest.raises(DatasetError, match=r"nothing\.npz: cannot be read") as missing_error:
        glyphs.glyph_table(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"garbage\.npz: not a readable glyph file"):
        glyphs.glyph_table(garbage)
    tampered = tmp_path / "glyphs.npz"  # the shipped file, one byte changed: its sha256 no longer matches
    data = bytearray(glyphs.GLYPH_FILE.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(glyphs, "GLYPH_FILE", tampered)
    with pytest.raises(DatasetError, match=r"glyphs\.npz: its sha256 is not the one this version ships"):
        glyphs.glyph_table(tampered)
    assert "\n" not in str(missing_error.value)


def test_shapes_other_than_promised_are_refused(tmp_path):
    table = glyphs.glyph_table()
    short = tmp_path / "short.npz"
    glyphs.write_npz(short, {"codepoints": table.codepoints[:10], "bitmaps": table.bitmaps[:10],
                             "faces": np.array(table.faces), "num_holdout": np.array(2)})
    with pytest.raises(DatasetError, match=r"short\.npz: holds 8 training and 2 held-out identities, expected 289"):
        glyphs.glyph_table(short)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib (a dev dependency) is absent")
def test_the_build_script_reproduces_the_shipped_file():
    from matplotlib import ft2font

    from toy_models import glyph_build

    shipped = glyphs.read_npz(glyphs.GLYPH_FILE)
    if ft2font.__freetype_version__ != str(shipped["freetype_version"]):
        pytest.skip(f"this matplotlib draws with FreeType {ft2font.__freetype_version__}, the file was drawn with "
                    f"{shipped['freetype_version']}: a rebuild may differ by anti-aliasing")
    rebuilt = glyph_build.build()
    for name in ("codepoints", "bitmaps", "num_holdout", "faces"):
        assert np.array_equal(rebuilt[name], shipped[name]), name


# --------------------------------------------------------------------------------------------------------
# The jitter: deterministic, seeded, per identity


def test_same_seed_gives_the_same_bytes_on_every_platform():
    table = glyphs.glyph_table()
    first = glyphs.jitter_samples(table, PINNED_IDENTITIES, 6, seed=0)
    again = glyphs.jitter_samples(table, PINNED_IDENTITIES, 6, seed=0)
    assert first.shape == (30, 28, 28) and first.dtype == np.uint8
    assert _sha256(first) == _sha256(again) == PINNED_SAMPLES_SHA256


def test_a_different_seed_gives_different_samples():
    table = glyphs.glyph_table()
    seed0 = glyphs.jitter_samples(table, PINNED_IDENTITIES, 6, seed=0)
    seed1 = glyphs.jitter_samples(table, PINNED_IDENTITIES, 6, seed=1)
    differs = (seed0 != seed1).any(axis=(1, 2))
    assert differs.mean() > 0.9  # not one shared image between the seeds would be luck; nearly none is expected


def test_samples_vary_within_an_identity_and_stay_inside_the_frame():
    table = glyphs.glyph_table()
    images = glyphs.jitter_samples(table, [0], 40, seed=3)
    assert len({img.tobytes() for img in images}) == 40
    assert images.max() == 255 or images.max() > 200
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (border > 0).mean() < 0.05  # glyphs fit in 22 px: jitter rarely pushes ink to the edge


def test_an_identity_s_samples_do_not_depend_on_which_others_are_drawn():
    table = glyphs.glyph_table()
    alone = glyphs.jitter_samples(table, [150], 6, seed=0)
    together = glyphs.jitter_samples(table, PINNED_IDENTITIES, 6, seed=0)
    assert np.array_equal(alone, together[18:24])


def test_rotation_without_trigonometry_is_a_rotation():
    words = np.random.PCG64(5).random_raw(8 * 200).reshape(200, 8)
    maps = glyphs._inverse_maps(words)
    linear = maps[:, :, :2]
    determinant = linear[:, 0, 0] * linear[:, 1, 1] - linear[:, 0, 1] * linear[:, 1, 0]
    # det of the inverse = 1 / (sx · sy) = 1 / scale², with scale in [0.88, 1.12]
    assert np.all((determinant > 1 / 1.12**2 - 1e-12) & (determinant < 1 / 0.88**2 + 1e-12))


# --------------------------------------------------------------------------------------------------------
# The disk cache


def test_samples_are_cached_and_read_back_identical(tmp_path, monkeypatch):
    monkeypatch.setenv(glyphs.CACHE_ENV, str(tmp_path))
    glyphs.all_samples.cache_clear()
    generated = glyphs.all_samples(7, per_identity=2)
    assert len(list(tmp_path.glob("glyphs-v*-seed7-n2.npz"))) == 1  # written once generated
    glyphs.all_samples.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sound cache is read without a word
        cached = glyphs.all_samples(7, per_identity=2)
    assert cached.shape == (K_MAX + HELD, 2, 28, 28) and np.array_equal(cached, generated)
    assert not cached.flags.writeable
    glyphs.all_samples.cache_clear()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered"])
def test_a_bad_cache_file_is_named_and_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv(glyphs.CACHE_ENV, str(tmp_path))
    glyphs.all_samples.cache_clear()
    expected = glyphs.all_samples(8, per_identity=2).copy()
    [path] = tmp_path.glob("*.npz")
    if damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:  # a valid archive whose images no longer match their checksum
        arrays = glyphs.read_npz(path)
        arrays["images"][0, 0, 14, 14] ^= 1
        glyphs.write_npz(path, arrays, compress=False)
    glyphs.all_samples.cache_clear()
    with pytest.warns(RuntimeWarning, match=rf"glyph cache {path} .*: rebuilding it"):
        rebuilt = glyphs.all_samples(8, per_identity=2)
    assert np.array_equal(rebuilt, expected)
    assert np.array_equal(glyphs.read_npz(path)["images"], expected)  # and the file is sound again
    glyphs.all_samples.cache_clear()


def test_an_unwritable_cache_still_gives_the_samples(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(glyphs.CACHE_ENV, str(blocker / "cache"))
    glyphs.all_samples.cache_clear()
    with pytest.warns(RuntimeWarning, match="could not be written"):
        images = glyphs.all_samples(9, per_identity=2)
    assert images.shape == (K_MAX + HELD, 2, 28, 28)
    glyphs.all_samples.cache_clear()


def test_npz_files_are_read_without_pickle(tmp_path):
    path = tmp_path / "objects.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("images.npy", "w") as f:
        np.lib.format.write_array(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        glyphs.read_npz(path)


# --------------------------------------------------------------------------------------------------------
# load_dataset, TrainConfig, the CLI


@pytest.fixture(scope="module")
def glyphs32():
    return load_dataset("glyphs", train_identities=32)


def test_load_dataset_trains_on_k_identities_and_holds_out_the_fixed_ones(glyphs32):
    data = glyphs32
    per = glyphs.SAMPLES_PER_IDENTITY
    assert data.name == "glyphs" and data.input_shape == (1, 28, 28) and data.num_classes == 32
    assert len(data.y_train) + len(data.y_test) == 32 * per
    assert torch.bincount(data.y_test, minlength=32).tolist() == [per // 5] * 32  # stratified 20 %
    assert data.holdout_classes == tuple(range(32, 32 + HELD))
    assert sorted(set(data.y_holdout.tolist())) == list(data.holdout_classes)
    assert len(data.y_holdout) == HELD * per
    assert data.x_train.dtype == torch.float32 and 0.0 <= data.x_train.min() and data.x_train.max() == 1.0
    assert not set(data.class_names) & set(data.holdout_class_names)


def test_k_identities_are_the_first_k_of_one_order_and_the_holdout_never_changes(glyphs32):
    larger = load_dataset("glyphs", train_identities=128)
    assert larger.class_names[:32] == glyphs32.class_names
    assert larger.holdout_class_names == glyphs32.holdout_class_names
    assert torch.equal(larger.x_holdout, glyphs32.x_holdout)


def test_the_same_data_seed_gives_the_same_tensors_and_another_seed_other_ones(glyphs32):
    again = load_dataset("glyphs", train_identities=32)
    assert torch.equal(again.x_train, glyphs32.x_train) and torch.equal(again.y_test, glyphs32.y_test)
    other = load_dataset("glyphs", train_identities=32, seed=1)
    assert not torch.equal(other.x_holdout, glyphs32.x_holdout)


@pytest.mark.parametrize("k", [2, K_MAX, None])
def test_the_boundaries_of_k_load(k):
    data = load_dataset("glyphs", train_identities=k, max_train=600, max_test=300)
    assert data.num_classes == (K_MAX if k is None else k)


@pytest.mark.parametrize("k", [1, K_MAX + 1, True, 2.5, "8"])
def test_k_out_of_range_is_one_sentence(k):
    with pytest.raises(DatasetError, match=rf"train_identities={k!r} is out of range: glyphs has 2–{K_MAX}"):
        load_dataset("glyphs", train_identities=k)


def test_glyphs_refuse_chosen_holdout_classes():
    with pytest.raises(DatasetError, match="glyphs holds out its own fixed identities"):
        load_dataset("glyphs", train_identities=8, holdout_classes=(3,))


@pytest.mark.parametrize("k", [None, 2, K_MAX])
def test_train_config_accepts_k_from_2_to_the_maximum(k):
    config = TrainConfig(dataset="glyphs", train_identities=k)
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("k", [1, K_MAX + 1, True, 8.0, "8"])
def test_train_config_refuses_other_k(k):
    with pytest.raises(ValueError, match=rf"train_identities must be an integer from 2 to {K_MAX} or None"):
        TrainConfig(dataset="glyphs", train_identities=k)


def test_the_cli_takes_the_number_of_training_identities():
    from toy_models.cli import _train_config

    args = build_parser().parse_args(["train", "--dataset", "glyphs", "--train-identities", "32"])
    assert _train_config(args).train_identities == 32
    assert _train_config(build_parser().parse_args(["train"])).train_identities is None


def test_a_passed_in_dataset_must_match_the_config_k(glyphs32):
    config = TrainConfig(dataset="glyphs", train_identities=32)
    assert load_checked_dataset(config, glyphs32) is glyphs32
    with pytest.raises(ValueError, match="does not match the config"):
        load_checked_dataset(TrainConfig(dataset="glyphs", train_identities=64), glyphs32)


def test_a_glyph_run_reports_verification_on_the_held_out_identities(glyphs32, one_thread):
    trainer = Trainer(TrainConfig(dataset="glyphs", train_identities=32, backbone="cnn", embedding_dim=8,
                                  loss="arcface", lr=0.003, batch_size=32, max_train=None), dataset=glyphs32)
    trainer.advance(steps=5)
    metrics = trainer.evaluate_all(max_pairs=20_000)
    assert 0.0 <= metrics["verification_auc"] <= 1.0 and np.isfinite(metrics["verification_auc"])
    assert metrics["num_negative_pairs"] > 0 and metrics["num_positive_pairs"] > 0
