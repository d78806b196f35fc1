"""A lesson's preset and worked solution: share-link keys, checked by app.state.validate.

A live lesson's preset is the share link's keys (`loss`, `margin`, `scale`, `embedding_dim`, ...; the older
short keys `m`, `s`, `dim` are aliases). A compare lesson's preset holds the settings every member shares
(`app.state.SHARED_NAMES`), `losses`, and one table per member for its own values
(`[preset.members.arcface] margin = 0.3`). Anything `validate` would correct (a value out of range,
between a slider's stops, or a key the loss does not use) is an error here: a lesson means what it says.

Also the bridge to the trainer: `live_values` and `member_values` turn URL keys into clean values by
Param name, as the live unit and the Compare unit hold them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import state
from app.compare.values import default_member_values
from app.training.pace import PACES
from toy_models.heads import LOSSES
from toy_models.train import DEFAULT_COMPARE_LOSSES

STEP_KEYS = ("epochs", "continue")
PACE_KEY = "pace"  # the pace a lesson opens at: a preset key, not a setting of the model (app.training.pace)
_NOTICE_KEY = re.compile(r"(?:value|key) ([A-Za-z0-9_]+)(?:=| )")
_SOURCE = "Lesson file"


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _check_validates(raw: Mapping[str, Any], where: str, r: Any, validator: Any = state.validate) -> dict:
    """Clean values of `raw`, or a LessonError quoting validate's first notice, naming the key it is about."""
    values, notices = validator(raw, source=_SOURCE)
    if notices:
        notice = notices[0]
        found = _NOTICE_KEY.search(notice)
        key = found.group(1) if found and found.group(1) in raw else None
        sentence = notice.split("; using")[0].split("; ignored")[0].rstrip(".")
        raise r.fail(f"{where}.{key}" if key else where, sentence)
    return values


def _scalars(table: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str, r: Any, what: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise r.fail(f"{where}.{key}", f"unknown key; {what}")
        if not _scalar(value):
            got = type(value).__name__
            raise r.fail(f"{where}.{key}", f"expected one value (text, number or true/false), got a {got}")


def _shared_raw(table: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k in state.shared_url_keys()}


def _member_keys() -> frozenset[str]:
    return frozenset(state.all_url_keys()) - state.shared_url_keys() - {"loss"}


def _check_compare(table: Mapping[str, Any], where: str, r: Any) -> None:
    """A compare preset or merged solution step: shared keys, `losses`, `members`."""
    shared = {k: v for k, v in table.items() if k not in ("losses", "members")}
    _scalars(shared, state.shared_url_keys(), where, r,
             f"a compare lesson shares only {', '.join(state.SHARED_NAMES)} (a member's own values go in "
             f"[{where}.members.<loss>])")
    _check_validates(shared, where, r, validator=state.validate_shared)
    losses = table.get("losses", list(DEFAULT_COMPARE_LOSSES))
    if not isinstance(losses, list) or not losses or not all(isinstance(x, str) and x in LOSSES for x in losses):
        raise r.fail(f"{where}.losses", f"expected a list of losses from {', '.join(LOSSES)}")
    if len(set(losses)) != len(losses):
        raise r.fail(f"{where}.losses", "a loss is listed twice")
    members = table.get("members", {})
    if not isinstance(members, dict):
        raise r.fail(f"{where}.members", "expected a table of tables, one per loss")
    for loss, own in members.items():
        if loss not in losses:
            raise r.fail(f"{where}.members.{loss}", f"not one of the compared losses ({', '.join(losses)})")
        if not isinstance(own, dict):
            raise r.fail(f"{where}.members.{loss}", "expected a table of the member's own values (margin, scale, "
                                                    "gradient)")
        _scalars(own, _member_keys(), f"{where}.members.{loss}", r,
                 f"a member's own values are {', '.join(sorted(_member_keys()))}")
        _check_validates({**shared, **own, "loss": loss}, f"{where}.members.{loss}", r)


def check_constraint(loss: str, key: str, value: Any, where: str, r: Any, *, numeric: bool) -> None:
    """A check's settings / at_most / at_least entry must be a setting of the loss it reads (with a value the
    schema accepts, or a numeric setting for a bound)."""
    if loss not in LOSSES:
        return  # (the member or loss itself is reported elsewhere)
    if key == "loss":
        if numeric:
            raise r.fail(where, "the loss is not a number, so it cannot be bounded")
        _check_validates({"loss": value}, where.rsplit(".", 1)[0], r)
        return
    param = next((p for p in state.params_for(loss) if key in p.url_keys), None)
    if param is None:
        raise r.fail(where, f"{state.loss_label(loss)} has no setting {key}")
    part = next((q for q in param.parts if key in (q.name, *q.aliases)), param)
    if numeric and part.kind == "choice":
        raise r.fail(where, f"{part.label} is a choice, not a number, so it cannot be bounded")
    if not numeric:
        _check_validates({"loss": loss, key: value}, where.rsplit(".", 1)[0], r)


def read_pace(table: dict, r: Any) -> str | None:
    """The preset's `pace` (a name in app.training.pace.PACES), or None when it sets none (the unit's default)."""
    if PACE_KEY not in table:
        return None
    pace = table[PACE_KEY]
    if not isinstance(pace, str) or pace not in PACES:
        raise r.fail(f"preset.{PACE_KEY}", f"{pace!r} is not a pace; the paces are {', '.join(PACES)}")
    return pace


def read_preset(table: dict, unit: str, r: Any) -> dict:
    """The preset as written (URL keys), validated; its `pace` is read by read_pace and left out here."""
    table = {key: value for key, value in table.items() if key != PACE_KEY}
    if unit == "compare":
        _check_compare(table, "preset", r)
    else:
        _scalars(table, state.all_url_keys() | {"loss"}, "preset", r, "the preset takes share-link keys only "
                 "(loss, margin, scale, gradient, lr, embedding_dim, dataset, backbone, batch_size, seed, ...)")
        _check_validates(table, "preset", r)
    return dict(table)


def clean_shared(preset: Mapping[str, Any], r: Any = None, where: str = "preset") -> dict[str, Any]:
    """Clean values (by Param name) of the settings the whole lesson shares (embedding_dim, dataset, ...)."""
    if "losses" in preset or "members" in preset:
        return state.validate_shared(_shared_raw(preset)).values
    return state.validate(preset).values


def _merge(base: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in step.items() if k not in (*STEP_KEYS, "members")}}
    if "members" in step and isinstance(step["members"], dict):
        members = {loss: dict(own) for loss, own in base.get("members", {}).items()}
        for loss, own in step["members"].items():
            members[loss] = {**members.get(loss, {}), **(own if isinstance(own, dict) else {"?": own})}
        merged["members"] = members
    return merged


@dataclass(frozen=True)
class SolutionStep:
    """One step of a worked solution: its values, how long it trains, and whether it keeps the running model."""

    values: dict  # URL keys: the preset (or, with continue_run, the previous step) with this step's values over it
    epochs: int
    continue_run: bool


def read_solution(value: Any, preset: dict, unit: str, r: Any) -> tuple:
    """The worked solution's steps: each preset (or previous step, with continue) plus its values."""
    if isinstance(value, dict):
        tables, names = [value], ["solution"]
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        tables, names = value, [f"solution[{i}]" for i in range(1, len(value) + 1)]
    else:
        raise r.fail("solution", "expected a table [solution] or an array of tables [[solution]]")
    steps = []
    for table, where in zip(tables, names, strict=True):
        if "epochs" not in table:
            raise r.fail(f"{where}.epochs", "missing (how many epochs the solution trains)")
        epochs = r.integer(table, "epochs", where, 1, 1000)
        cont = table.get("continue", False)
        if not isinstance(cont, bool):
            raise r.fail(f"{where}.continue", f"expected true or false, got {cont!r}")
        if cont and not steps:
            raise r.fail(f"{where}.continue", "the first step has no previous model to continue")
        base = steps[-1].values if cont else preset
        if "members" in table and not isinstance(table["members"], dict):
            raise r.fail(f"{where}.members", "expected a table of tables, one per loss")
        merged = _merge(base, table)
        if unit == "compare":
            _check_compare(merged, where, r)
        else:
            _scalars(merged, state.all_url_keys() | {"loss"}, where, r, "a solution takes share-link keys, "
                     "epochs and continue")
            _check_validates(merged, where, r)
        if cont:
            _check_hot_only(steps[-1].values, merged, table, unit, where, r)
        steps.append(SolutionStep(merged, epochs, cont))
    return tuple(steps)


def _check_hot_only(old: Mapping, new: Mapping, step: Mapping, unit: str, where: str, r: Any) -> None:
    """A continued step may change hot values only (the model keeps its weights)."""
    pairs = []
    if unit == "compare":
        if list(old.get("losses", DEFAULT_COMPARE_LOSSES)) != list(new.get("losses", DEFAULT_COMPARE_LOSSES)):
            raise r.fail(f"{where}.losses", "continue = true keeps the previous models, so the losses cannot change")
        pairs.append((clean_shared(old), clean_shared(new), step))
        for loss, own in step.get("members", {}).items():
            raw_old = {**_shared_raw(old), **old.get("members", {}).get(loss, {}), "loss": loss}
            raw_new = {**_shared_raw(new), **new.get("members", {}).get(loss, {}), "loss": loss}
            pairs.append((state.validate(raw_old).values, state.validate(raw_new).values, own))
    else:
        pairs.append((state.validate(old).values, state.validate(new).values, step))
    for before, after, given in pairs:
        for p in state.params_for(after["loss"]) if "loss" in after else state.shared_params():
            if not p.hot and before.get(p.name) != after.get(p.name):
                key = next((k for k in p.url_keys if k in given), p.name)
                raise r.fail(f"{where}.{key}", f"continue = true keeps the previous model, so only hot values may "
                                               f"change, and {p.label} is cold (it rebuilds the model)")


# --------------------------------------------------------------------------------------------
# URL keys -> clean values, as the units hold them
# --------------------------------------------------------------------------------------------


def live_values(url_values: Mapping[str, Any]) -> dict[str, Any]:
    """Clean values by Param name of a live lesson's preset or solution step."""
    return state.validate(url_values).values


def compare_losses(url_values: Mapping[str, Any]) -> tuple[str, ...]:
    """The compared losses in the library's order, as the Compare unit shows and trains them."""
    chosen = url_values.get("losses", DEFAULT_COMPARE_LOSSES)
    return tuple(loss for loss in LOSSES if loss in chosen)


def member_values(url_values: Mapping[str, Any], loss: str, num_classes: int) -> dict[str, Any]:
    """A compare member's full values by Param name, as the Compare unit builds them: the loss's defaults made
    sensible for C classes in the shared dimension, the member's own values over them, the shared settings."""
    shared_raw = _shared_raw(url_values)
    shared = state.validate_shared(shared_raw).values
    own = url_values.get("members", {}).get(loss, {})
    given = state.validate({**shared_raw, **own, "loss": loss}).values
    values = default_member_values(loss, shared, num_classes)
    for p in state.params_for(loss):
        if any(k in own for k in p.url_keys):
            values[p.name] = given[p.name]
    return values
