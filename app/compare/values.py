"""The values of a comparison, without Streamlit: the defaults the Compare unit opens with, and a lesson's preset.

    preset = parse_preset({"embedding_dim": 2, "losses": ["cosface", "arcface"],
                           "members": {"arcface": {"margin": 0.2}, "cosface": {"margin": 0.1, "scale": 20}}})
    preset.shared        {"embedding_dim": 2}           clean shared values by Param name (only those named)
    preset.losses        ("cosface", "arcface")         the chosen losses (None: the preset does not say)
    preset.members       {"arcface": {"margin": 0.2}, "cosface": {"margin": 0.1, "scale": 20.0}}
    member_values("arcface", {**default_shared(), **preset.shared}, 10, preset)   # a member's full values

A preset uses the share link's keys (`app.state`, aliases included): the shared ones (`app.state.SHARED_NAMES`)
at the top, `losses` (which members are chosen), and one table of keys per loss under `members` (margin,
scale, gradient). It is a lesson author's file, validated when the lesson loads: anything `app.state.validate`
would correct is an error here, a ValueError whose message is one sentence.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import state
from toy_models import geometry
from toy_models.heads import LOSS_SPECS, LOSSES

MEMBER_NAMES = ("margin", "scale", "gradient")
# What a lesson may lock or hide: the member selection, the shared settings, and the member controls (for
# every member at once).
FIXABLE_NAMES = ("losses", *state.SHARED_NAMES, *MEMBER_NAMES)
TARGET_PROBABILITY = 0.99  # the scale default lets every class reach p = 0.99 (as the Playground's warning)
MARGIN_SHARE = 0.4  # margin defaults stay at this share of the geometric bound: room to learn, visible caps


def member_defaults(loss: str, num_classes: int, dim: int) -> dict[str, Any]:
    """A loss's margin and scale, made sensible for C classes in `dim` dimensions.

    The library's defaults suit 10 classes on a sphere; on a circle they do not: ArcFace's m = 0.5 rad is
    80 % of the 0.63 rad the ten centres can be apart, CosFace's m = 0.35 is above the 0.19 that leaves any
    room, and s = 16 keeps every class below p = 0.99 (it needs 27.7). So the margin is capped at
    MARGIN_SHARE of its bound (`geometry.max_margin` at the Tammes separation) and the scale raised to
    `geometry.min_scale`; both are snapped to their sliders' stops.
    """
    values = state.defaults(loss)
    out: dict[str, Any] = {}

    def below(param: state.Param, value: float) -> float:  # the stop at or below value: never past the cap
        return state.snap(param, param.minimum + math.floor((value - param.minimum) / param.step + 1e-9) * param.step)

    sep = geometry.tammes_angle(num_classes, dim)
    margin_param = state.param_by_name(loss, "margin")
    if margin_param is not None:
        controls = margin_param.parts or (margin_param,)
        out["margin"] = LOSS_SPECS[loss].fitting_margin(values["margin"], sep, MARGIN_SHARE,
                                                        lambda part, value: below(controls[part], value))
    scale_param = state.param_by_name(loss, "scale")
    if scale_param is not None:
        need = geometry.min_scale(num_classes, dim, TARGET_PROBABILITY).scale
        wanted = min(scale_param.maximum, max(values["scale"], math.ceil(need / scale_param.step) * scale_param.step))
        out["scale"] = state.snap(scale_param, wanted)
    return out


def default_shared() -> dict[str, Any]:
    """The settings every member shares, as the page opens (the library's defaults)."""
    defaults = state.defaults()
    return {name: defaults[name] for name in state.SHARED_NAMES}


def default_member_values(loss: str, shared: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
    """A member's full values before the user touched them: the loss's defaults, its margin and scale for C
    classes in the shared dimension (`member_defaults`), and the shared settings."""
    own = member_defaults(loss, num_classes, int(shared["embedding_dim"]))
    return {**state.defaults(loss), **own, **shared, "loss": loss}


# -- a lesson's preset ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparePreset:
    """A checked Compare preset, in clean values by Param name (only what the preset names)."""

    shared: dict[str, Any] = field(default_factory=dict)
    losses: tuple[str, ...] | None = None
    members: dict[str, dict[str, Any]] = field(default_factory=dict)


def _clean(raw: Mapping[str, Any], loss: str, source: str) -> dict[str, Any]:
    """The clean values of the URL keys in `raw` under `loss`, by Param name; ValueError on any correction."""
    values, notices = state.validate({**raw, "loss": loss}, source=source)
    if notices:
        raise ValueError(notices[0])
    named = {p.name for p in state.params_for(loss) for key in p.url_keys if key in raw}
    return {name: values[name] for name in named}


def parse_preset(preset: Mapping[str, Any] | None, *, source: str = "Preset") -> ComparePreset:
    """Check a Compare preset (see the module docstring) and return its clean values.

    Raises ValueError with one sentence for the first problem: an unknown or misplaced key, a loss that is
    not a loss, a value `app.state.validate` would correct (out of range, malformed, not used by that loss).
    """
    preset = dict(preset or {})
    if not isinstance(preset.get("members", {}), Mapping):
        raise ValueError(f"{source} members must be a table of losses, each a table of settings.")
    members_raw = dict(preset.pop("members", {}))
    losses_raw = preset.pop("losses", None)
    for key in preset:
        if key not in state.shared_url_keys():
            where = "it belongs under members.<loss>" if key in state.all_url_keys() else "it is not a setting"
            raise ValueError(f"{source} key {key!r} is not a shared setting of the Compare unit ({where}); the "
                             f"shared settings are {', '.join(state.SHARED_NAMES)}.")  # fmt: skip
    values, notices = state.validate_shared(preset, source=source)
    if notices:
        raise ValueError(notices[0])
    shared = {name: values[name] for name in {state.control_name(key) for key in preset}}
    losses = None
    if losses_raw is not None:
        if isinstance(losses_raw, str) or not isinstance(losses_raw, Collection) or not losses_raw:
            raise ValueError(f"{source} losses must be a non-empty list of loss names, got {losses_raw!r}.")
        for name in losses_raw:
            if name not in LOSSES:
                raise ValueError(f"{source} losses: {name!r} is not a loss; the losses are {', '.join(LOSSES)}.")
        if len(set(losses_raw)) != len(losses_raw):
            raise ValueError(f"{source} losses names a loss twice: {list(losses_raw)!r}.")
        losses = tuple(name for name in LOSSES if name in losses_raw)  # the library's order, as the unit shows
    members = {}
    for loss, table in members_raw.items():
        if loss not in LOSSES:
            raise ValueError(f"{source} members.{loss}: {loss!r} is not a loss; the losses are {', '.join(LOSSES)}.")
        if not isinstance(table, Mapping):
            raise ValueError(f"{source} members.{loss} must be a table of settings (margin, scale, gradient).")
        for key in table:
            if key in state.shared_url_keys() or key == "loss":
                raise ValueError(f"{source} members.{loss}.{key}: {key!r} is shared by every member; put it at "
                                 "the top of the preset.")  # fmt: skip
        members[loss] = _clean(table, loss, f"{source} members.{loss}")
    return ComparePreset(shared, losses, members)


def check_fixable(names: Collection[str], *, what: str) -> frozenset[str]:
    """The names a lesson locks or hides, checked ("loss" is taken for "losses": the member selection is the
    Compare unit's loss control); ValueError naming the first that the Compare unit does not have."""
    names = {"losses" if name == "loss" else (state.control_name(name) or name) for name in names}
    for name in sorted(names):
        if name not in FIXABLE_NAMES:
            raise ValueError(f"{what} {name!r} is not a control of the Compare unit; its controls are "
                             f"{', '.join(FIXABLE_NAMES)}.")  # fmt: skip
    return frozenset(names)


def member_values(
    loss: str, shared: Mapping[str, Any], num_classes: int, preset: ComparePreset | None = None
) -> dict[str, Any]:
    """A member's full values as a lesson opens it: `default_member_values` with the preset's member values
    on top (shared: the full shared values, the preset's included). Also what a headless run trains."""
    own = preset.members.get(loss, {}) if preset is not None else {}
    return {**default_member_values(loss, shared, num_classes), **own}


def merged(base: Mapping[str, Any] | None, over: Mapping[str, Any] | None) -> dict[str, Any]:
    """A raw Compare preset with `over` on top (a lesson's solution over its preset): shared keys and `losses`
    replaced, each member's table merged key by key. Neither input is changed; check the result with
    `parse_preset`."""
    out = {key: value for key, value in (base or {}).items() if key != "members"}
    out.update({key: value for key, value in (over or {}).items() if key != "members"})
    members = {loss: dict(table) for loss, table in dict((base or {}).get("members", {})).items()}
    for loss, table in dict((over or {}).get("members", {})).items():
        members[loss] = {**members.get(loss, {}), **table}
    if members:
        out["members"] = members
    return out


def preset_from_link(raw: Mapping[str, Any]) -> tuple[ComparePreset, list[str]]:
    """A comparison's setup read from a share link, with one sentence per value it could not use (that value
    keeps its default). Never raises: a link is a user's input, not an author's file.

    Keys: `losses=softmax,arcface`, the shared settings by name (aliases too: `dim=2`), and each member's own
    values as `<loss>.<name>` (`arcface.margin=0.25`, `cosface.scale=20`)."""
    entries = {str(k): (v[-1] if isinstance(v, (list, tuple)) and v else v) for k, v in raw.items()}
    notices: list[str] = []
    losses = None
    if "losses" in entries:
        text = str(entries.pop("losses"))
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in LOSSES]
        if unknown:
            notices.append(f"URL value losses={text[:40]!r} names {unknown[0][:24]!r}, which is not a loss; the "
                           f"losses are {', '.join(LOSSES)}.")  # fmt: skip
        chosen = tuple(name for name in LOSSES if name in names)
        losses = chosen or None
    shared_raw, members_raw = {}, {}
    for key, value in entries.items():
        loss, dot, name = key.partition(".")
        if not dot:
            shared_raw[key] = value
        elif loss in LOSSES and state.control_name(name) in MEMBER_NAMES:
            members_raw.setdefault(loss, {})[name] = value
        else:
            notices.append(f"URL key {key[:40]!r} is not a setting of a compared loss; ignored.")
    values, more = state.validate_shared(shared_raw)
    notices += more
    shared = {name: values[name] for name in {state.control_name(key) for key in shared_raw} if name in values}
    members = {}
    for loss, table in members_raw.items():
        member, more = state.validate({**table, "loss": loss}, source=f"URL ({state.loss_label(loss)})")
        notices += more
        members[loss] = {name: member[name] for name in {state.control_name(key) for key in table} if name in member}
    return ComparePreset(shared, losses, members), notices
