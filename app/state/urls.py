"""Values from a user (the URL, a lesson's preset): parsed, clamped or refused, one sentence per correction.

    values, notices = validate(st.query_params-like mapping)   # clamp, ignore, say which
    to_query(values)                                          # the share link's parameters

`validate` never raises for bad input: an out-of-range number is clamped, a malformed or unknown
value is ignored, and each correction comes back as one plain sentence, e.g.
"URL value m=9 is above ArcFace's maximum 1.57 rad; using 1.57."

Keys are the controls' names (`margin`, `scale`, `embedding_dim`, ...) or their aliases from older links
(`m`, `s`, `dim`, ...); a sentence quotes the key as the user wrote it. `to_query` writes names only.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from app.state.schema import (
    MAX_TEXT,
    SHARED_NAMES,
    Param,
    _loss_param,
    _num,
    _unit,
    all_url_keys,
    control_name,
    format_value,
    is_active,
    loss_label,
    params_for,
    shared_url_keys,
    snap,
)
from toy_models.heads import LOSS_SPECS, SphereFaceSpec

MARGIN_PART_NAMES = tuple(dict.fromkeys(part.name for spec in LOSS_SPECS.values() for part in spec.margin_parts))
SPHEREFACE_NAMES = SphereFaceSpec.own_fields  # its form and λ schedule: a SphereFace unit shows them together


def _quote(text: str) -> str:
    """A raw value made safe to echo in one line of plain text: control characters spelled out
    (\\x00), long values shortened. (Markdown escaping is the page's job.)"""
    shown = text if len(text) <= 24 else text[:20] + "…"
    out = []
    for ch in shown:
        if unicodedata.category(ch)[0] == "C":  # control, format, unassigned, private use, surrogate
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


class Validated(NamedTuple):
    """Clean values (by param name, every control of the chosen loss) and one sentence per correction."""

    values: dict[str, Any]
    notices: list[str]


class _Bad(Exception):
    """A raw value that cannot be used; the message completes "URL value k=v ..."."""


def _last_text(key: str, raw: Any, source: str, notices: list[str]) -> str | None:
    """One text value out of a raw entry (repeated keys: the last one wins, with a notice)."""
    if isinstance(raw, (list, tuple)):
        items = list(raw)
        if not items:
            return None
        if len(items) > 1:
            last = _quote(_text(items[-1]))
            notices.append(f"{source} key {_quote(key)} appears {len(items)} times; using the last value {last}.")
        raw = items[-1]
    return _text(raw)


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e15:
        return repr(float(raw))  # float(): numpy's repr of np.float64(5.0) is "np.float64(5.0)"
    return str(raw)


def _parse_number(text: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise _Bad("is empty")
    if len(stripped) > MAX_TEXT:
        raise _Bad(f"is too long ({len(stripped)} characters) to be a number")
    try:
        value = float(stripped)
    except ValueError:
        raise _Bad("is not a number") from None
    if not math.isfinite(value):
        raise _Bad("is not a finite number")
    return value


def _clean(param: Param, text: str, loss: str) -> tuple[Any, str | None]:
    """(value, None) for a usable value, (clamped value, why) for a clamped one; _Bad if unusable."""
    if param.kind == "choice":
        if len(text) > MAX_TEXT:
            raise _Bad(f"is not one of {param.describe_range()}")
        wanted = text.strip().lower().replace("_", "-")
        for option in param.options:
            if isinstance(option, int):
                try:
                    number = float(wanted)
                except ValueError:
                    continue
                if number == option:
                    return option, None
            elif str(option).lower() == wanted:
                return option, None
        raise _Bad(f"is not one of {param.describe_range()}")

    value = _parse_number(text)
    if param.kind == "int" and not value.is_integer():
        raise _Bad("is not a whole number")
    whose = f"{loss_label(loss)}'s " if param.name in ("margin", *MARGIN_PART_NAMES) else "the "
    unit = _unit(param.unit)
    if param.minimum is not None and value < param.minimum:
        used = int(param.minimum) if param.kind == "int" else param.minimum
        if param.kind == "ladder":
            used = param.options[0]
        return used, f"is below {whose}minimum {_num(used)}{unit}"
    if param.maximum is not None and value > param.maximum:
        used = int(param.maximum) if param.kind == "int" else param.maximum
        if param.kind == "ladder":
            used = param.options[-1]
        return used, f"is above {whose}maximum {_num(used)}{unit}"
    if param.kind == "int":
        return int(value), None
    if param.kind == "float" and param.step:
        snapped = snap(param, value)
        if not math.isclose(snapped, value, rel_tol=1e-9, abs_tol=1e-12):
            return snapped, f"falls between the control's steps of {_num(param.step)}{unit}"
        return snapped, None
    if param.kind == "ladder":
        nearest = min(param.options, key=lambda o: abs(math.log(o) - math.log(value)) if value > 0 else o)
        if not math.isclose(nearest, value, rel_tol=1e-9):
            return nearest, f"is not one of the offered values ({param.describe_range()})"
        return nearest, None
    return value, None


def _lookup(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw entries by key, keys stripped; a non-string key is turned into text."""
    return {str(k): v for k, v in raw.items()}


def validate(raw: Mapping[str, Any], *, source: str = "URL") -> Validated:
    """Clean values for every control of the requested loss, plus one sentence per correction.

    raw:    query parameters ({key: text} or {key: [texts]} for repeated keys), or values from a
            lesson/course file (numbers allowed). Keys are URL keys (`loss`, `m`, `s`, ...).
    source: how the sentences name the origin ("URL", "Lesson file", ...).

    Out-of-range numbers are clamped, malformed values fall back to the default, keys that no
    loss understands or that the chosen loss does not use are ignored -- each with a notice. Never
    raises for any input mapping of strings.
    """
    entries = _lookup(raw)
    notices: list[str] = []

    loss_param = _loss_param()
    loss = loss_param.default
    if "loss" in entries:
        text = _last_text("loss", entries["loss"], source, notices)
        if text is not None:
            try:
                loss, _ = _clean(loss_param, text, loss)
            except _Bad as bad:
                notices.append(
                    f"{source} value loss={_quote(text)} {bad}; using {loss_label(loss)}."
                )

    # Each key names a control (by its name or an alias), or one part of the combined margin (m1, m2, m3).
    active: dict[str, tuple[Param, Param, int | None]] = {}
    for p in params_for(loss):
        for index, part in enumerate(p.parts):
            for key in (part.name, *part.aliases):
                active[key] = (p, part, index)
        for key in (p.name, *p.aliases):
            active[key] = (p, p, None)
    values: dict[str, Any] = {p.name: p.default for p in params_for(loss)}
    values["loss"] = loss
    unknown: list[str] = []
    for key, raw_value in entries.items():
        if key == "loss":
            continue
        if key not in active:
            if key in all_url_keys():
                text = _text(raw_value[-1] if isinstance(raw_value, (list, tuple)) and raw_value else raw_value)
                notices.append(
                    f"{source} value {_quote(key)}={_quote(text)} ignored: {loss_label(loss)} has no "
                    f"{_inactive_label(key, loss)}."
                )
            else:
                unknown.append(key)
            continue
        param, part, index = active[key]
        text = _last_text(key, raw_value, source, notices)
        if text is None:
            continue
        try:
            value, why = _clean_parts(param, text, loss) if part.parts else _clean(part, text, loss)
        except _Bad as bad:
            notices.append(
                f"{source} value {key}={_quote(text)} {bad}; using the default {format_value(part, part.default)}."
            )
            continue
        if index is None:
            values[param.name] = value
        else:
            parts = list(values[param.name])
            parts[index] = value
            values[param.name] = tuple(parts)
        if why:
            notices.append(f"{source} value {key}={_quote(text)} {why}; using {format_value(part, value)}.")

    shown = unknown[:5]
    for key in shown:
        notices.append(f"{source} key {_quote(key)} is not a setting of this page; ignored.")
    if len(unknown) > len(shown):
        notices.append(f"{len(unknown) - len(shown)} more unknown {source} keys ignored.")
    return Validated(values, notices)


def _clean_parts(param: Param, text: str, loss: str) -> tuple[tuple[float, ...], str | None]:
    """The combined margin written whole ("1,0.3,0.2"): each part cleaned; the first correction says why."""
    pieces = text.split(",")
    if len(pieces) != len(param.parts):
        raise _Bad(f"is not {len(param.parts)} comma-separated numbers ({', '.join(p.name for p in param.parts)})")
    cleaned, why = [], None
    for part, piece in zip(param.parts, pieces, strict=True):
        value, part_why = _clean(part, piece, loss)
        cleaned.append(value)
        why = why or (f"has {part.name}={_quote(piece.strip())}, which {part_why}" if part_why else None)
    return tuple(cleaned), why


_NAME_MEANING = {
    "margin": "margin m",
    "scale": "scale s (it uses the raw logits)",
    "gradient": "margin gradient (it has no margin)",
}


def _inactive_label(key: str, loss: str) -> str:
    """What a key means, for "ignored: NormFace has no <this>"."""
    owners = [spec for spec in LOSS_SPECS.values() if key in (part.name for part in spec.margin_parts)]
    if owners:
        names = ", ".join(part.name for part in owners[0].margin_parts)
        return f"{key} (only the {owners[0].short_label.lower()} has {names})"
    name = control_name(key) or key
    parts = LOSS_SPECS[loss].margin_parts
    if name == "margin" and parts:
        return f"single margin m (it uses {', '.join(part.name for part in parts)})"
    if name in _NAME_MEANING:
        return _NAME_MEANING[name]
    owners = [spec for spec in LOSS_SPECS.values() if name in spec.own_fields]
    return f"{key} (a {owners[0].short_label} setting)" if owners else f"{key} (a setting of another loss)"


def validate_over_preset(
    raw: Mapping[str, Any], preset: Mapping[str, Any], fixed: Collection[str], *, fixed_by: str = "This lesson"
) -> Validated:
    """URL values on top of clean `preset` values; URL values for `fixed` controls are refused.

    raw:      query parameters, as for `validate`.
    preset:   clean values (from `validate` of a lesson's preset, or `defaults()`).
    fixed:    names of the controls the URL may not change (locked and hidden ones).
    fixed_by: who fixed them, for the sentence: "URL value m=0.3 ignored: This lesson fixes Margin m
              (rad) at 0.5."
    A URL that picks another loss (when the loss is not fixed) drops the preset's margins, which
    belong to the preset's loss.
    """
    entries = _lookup(raw)
    notices: list[str] = []
    preset_loss = preset["loss"]
    fixed_keys: dict[str, Param] = {}
    for p in params_for(preset_loss):
        if p.name in fixed:
            fixed_keys.update({key: p for key in p.url_keys})
    kept = {}
    for key, value in entries.items():
        p = fixed_keys.get(key)
        if p is None:
            kept[key] = value
            continue
        text = _quote(_text(value[-1] if isinstance(value, (list, tuple)) and value else value))
        notices.append(
            f"URL value {_quote(key)}={text} ignored: {fixed_by} fixes {p.label} at {p.label_of(preset[p.name])}."
        )
    base = to_query(preset)
    loss = validate({"loss": kept["loss"]}).values["loss"] if "loss" in kept else preset_loss
    if loss != preset_loss:  # the preset's margins belong to its own loss; keep what the new loss shares
        shared = {p.name for p in params_for(loss)} - {"margin", *SPHEREFACE_NAMES}
        base = {key: text for key, text in base.items() if key in shared}
    values, more = validate({**base, **kept})
    for name in fixed:
        if name in preset:
            values[name] = preset[name]
    return Validated(values, notices + more)


def validate_shared(raw: Mapping[str, Any], *, source: str = "URL") -> Validated:
    """Clean values of the settings every loss shares (SHARED_NAMES: learning rate, batch, backbone, seed,
    dataset, dimension), with one sentence per correction; a key that is not a shared setting is ignored
    with a sentence. No loss is needed to read them (a comparison's shared settings, a course's overrides)."""
    shared, other = {}, []
    for key, value in _lookup(raw).items():
        if key in shared_url_keys():
            shared[key] = value
        else:
            other.append(key)
    values, notices = validate(shared, source=source)
    notices += [f"{source} key {_quote(key)} is not a setting every loss shares; ignored." for key in other]
    return Validated({name: values[name] for name in SHARED_NAMES}, notices)


def to_query(values: Mapping[str, Any]) -> dict[str, str]:
    """URL parameters reproducing `values` (every active control of the loss, so links survive new defaults)."""
    loss = values.get("loss") or _loss_param().default
    query = {}
    for p in params_for(loss):
        value = values.get(p.name, p.default)
        if not is_active(p, values) and value == p.default:
            continue  # e.g. λ outside SphereFace's original form: keep the link short
        query[p.name] = format_value(p, value)
    return query
