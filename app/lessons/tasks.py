"""A lesson's questions and checks: their records (Question, Check) and how the front matter's
[[questions]] and [[checks]] tables are read and validated, each problem one LessonError naming the field.

    questions = read_questions(data["questions"], unit, dim, r)
    checks = read_checks(data["checks"], unit, losses, r, dim, default_loss)

A question's answer and a check's targets are data: numbers, placeholders ({{ tammes_deg(10, 3) }}) and
share-link keys, never code. app.lessons.checks judges a check on a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app import state
from app.lessons import numbers, presets, withhold
from app.lessons.reader import Reader, describe
from toy_models.heads import LOSSES

LIVE_VIEWS = ("sphere", "angle_histograms", "target_logit", "decision_margins", "angle_statistics",
              "training_curves")
COMPARE_VIEWS = ("compare", "papers_figures", "open_set_verification", "margin_sweep")
VIEWS = {"live": LIVE_VIEWS, "compare": COMPARE_VIEWS}
METRICS = ("epoch", "test_accuracy", "train_accuracy", "loss", "w_ec_deg", "w_inter_deg", "intra_deg",
           "inter_deg", "min_center_angle_deg", "stuck_classes", "norm_ratio", "verification_auc")
ID = re.compile(r"[a-z0-9-]+")
_QUESTION_KEYS = ("id", "kind", "prompt", "options", "answer", "tolerance", "unit", "explanation", "view",
                  "keeps_back")
_CHECK_KEYS = ("id", "title", "settings", "at_most", "at_least", "within_epochs", "reach", "stay_below", "member",
               "feedback", "about", "fresh_run")


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # "choice" or "number"
    prompt: str
    options: tuple[str, ...]
    answer: float | int | str  # choice: index into options; number: a number or one placeholder
    tolerance: float | None
    unit: str
    explanation: str
    view: str | None
    keeps_back: str = ""  # one placeholder: the live unit's fact an open choice question would be answered by


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    settings: dict
    at_most: dict
    at_least: dict
    within_epochs: int | None
    reach: dict
    stay_below: dict
    member: str | None
    feedback: str
    about: tuple[str, ...] = ()  # more settings whose change restarts the epoch window (app.lessons.window)
    fresh_run: bool = False  # the window always counts from the model's build: the check needs a fresh run


FRESH_RUN_FEEDBACK = "Press Reset, then "  # how a fresh_run check's feedback starts


def _tables(value: Any, key: str, r: Reader, at_least: int) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise r.fail(key, f"expected an array of tables ([[{key}]]), got {describe(value)}")
    if len(value) < at_least:
        raise r.fail(key, f"a lesson needs at least {at_least} of them, found {len(value)}")
    return value


def _where(array: str, index: int, table: dict) -> str:
    """How a field of an array entry is named: by its id when it has a usable one, else by position."""
    ident = table.get("id")
    return f"{array}.{ident}" if isinstance(ident, str) and ID.fullmatch(ident) else f"{array}[{index}]"


def _unique_id(table: dict, where: str, seen: set, r: Reader) -> str:
    ident = r.text(table, "id", where)
    if not ID.fullmatch(ident):
        raise r.fail(f"{where}.id", f"{ident!r} must use only a-z, 0-9 and -")
    if ident in seen:
        raise r.fail(f"{where}.id", f"duplicate id {ident!r}")
    seen.add(ident)
    return ident


def read_questions(value: Any, unit: str, dim: int, r: Reader) -> tuple[Question, ...]:
    out, seen = [], set()
    for i, table in enumerate(_tables(value, "questions", r, 2), start=1):
        where = _where("questions", i, table)
        r.keys(table, _QUESTION_KEYS, ("id", "kind", "prompt", "answer", "explanation"), where)
        ident = _unique_id(table, where, seen, r)
        where = f"questions.{ident}"
        kind = r.text(table, "kind", where)
        prompt, explanation = r.text(table, "prompt", where), r.text(table, "explanation", where)
        unit_text = r.text(table, "unit", where, "")
        options = r.texts(table, "options", where)
        for key, text in (("prompt", prompt), ("explanation", explanation)):
            r.fill(text, f"{where}.{key}", dim)
        for j, option in enumerate(options, start=1):
            r.fill(option, f"{where}.options[{j}]", dim)
        view = table.get("view")
        if view is not None and (not isinstance(view, str) or view not in VIEWS[unit]):
            raise r.fail(f"{where}.view", f"{view!r} is not a view of a {unit} lesson; the views are "
                                          f"{', '.join(VIEWS[unit])}")
        answer = table["answer"]
        tolerance = None
        if kind == "choice":
            if len(options) < 2:
                raise r.fail(f"{where}.options", "a choice question needs at least two options")
            if isinstance(answer, bool) or not isinstance(answer, int):
                raise r.fail(f"{where}.answer", f"expected the 0-based index of an option, got {describe(answer)}")
            if not 0 <= answer < len(options):
                raise r.fail(f"{where}.answer", f"{answer} is out of range (0 to {len(options) - 1}, 0-based)")
            if "tolerance" in table:
                raise r.fail(f"{where}.tolerance", "only a number question has a tolerance")
        elif kind == "number":
            if options:
                raise r.fail(f"{where}.options", "a number question has no options")
            if isinstance(answer, str):
                if numbers.single_placeholder(answer) is None:
                    raise r.fail(f"{where}.answer", "a text answer must be exactly one placeholder {{ name(args) }}")
                r.fill(answer, f"{where}.answer", dim)
            else:
                answer = r.number(answer, f"{where}.answer")
            if "tolerance" not in table:
                raise r.fail(f"{where}.tolerance", "missing (a number question needs one)")
            tolerance = r.number(table["tolerance"], f"{where}.tolerance")
            if tolerance < 0:
                raise r.fail(f"{where}.tolerance", f"{tolerance:g} is negative")
        else:
            raise r.fail(f"{where}.kind", f"{kind!r} is not a question kind; use \"choice\" or \"number\"")
        keeps_back = r.text(table, "keeps_back", where, "")
        if keeps_back and (numbers.single_placeholder(keeps_back) is None
                           or numbers.single_placeholder(keeps_back).group(1) not in withhold.FACT_OF):
            raise r.fail(f"{where}.keeps_back", "must be exactly one placeholder of a fact the live unit states: "
                                                f"{', '.join(withhold.FACT_OF)}")  # fmt: skip
        if keeps_back:
            r.fill(keeps_back, f"{where}.keeps_back", dim)
        out.append(Question(ident, kind, prompt, options, answer, tolerance, unit_text, explanation, view, keeps_back))
    return tuple(out)


def read_checks(value: Any, unit: str, losses: tuple[str, ...], r: Reader, dim: int,
                 default_loss: str) -> tuple[Check, ...]:
    out, seen = [], set()
    url_keys = state.all_url_keys() | {"loss"}
    for i, table in enumerate(_tables(value, "checks", r, 1), start=1):
        where = _where("checks", i, table)
        r.keys(table, _CHECK_KEYS, ("id", "title", "feedback"), where)
        ident = _unique_id(table, where, seen, r)
        where = f"checks.{ident}"
        title, feedback = r.text(table, "title", where), r.text(table, "feedback", where)
        r.fill(title, f"{where}.title", dim)
        r.fill(feedback, f"{where}.feedback", dim)
        if not feedback.strip():
            raise r.fail(f"{where}.feedback", "empty; say what to try when the check fails")
        member = table.get("member")
        if unit == "compare":
            if member is None:
                raise r.fail(f"{where}.member", "missing (a compare lesson's check names whose run it checks)")
            member = r.text(table, "member", where)
            if member not in losses:
                raise r.fail(f"{where}.member", f"{member!r} is not one of the compared losses ({', '.join(losses)})")
        elif member is not None:
            raise r.fail(f"{where}.member", "only a compare lesson's check names a member")
        settings = r.table(table, "settings", where)
        for key, wanted in settings.items():
            if key not in url_keys:
                raise r.fail(f"{where}.settings.{key}", "not a setting (a share-link key such as loss, m, s, dim)")
            if isinstance(wanted, (dict, list)):
                raise r.fail(f"{where}.settings.{key}", f"expected one value, got {describe(wanted)}")
        loss = member if unit == "compare" else settings.get("loss", default_loss)
        for key, wanted in settings.items():
            presets.check_constraint(str(loss), key, wanted, f"{where}.settings.{key}", r, numeric=False)
        limits = {}
        for name in ("at_most", "at_least"):
            limits[name] = r.table(table, name, where)
            for key, limit in limits[name].items():
                if key not in url_keys:
                    raise r.fail(f"{where}.{name}.{key}", "not a setting (a share-link key such as m, s, lr)")
                r.number(limit, f"{where}.{name}.{key}")
                presets.check_constraint(str(loss), key, limit, f"{where}.{name}.{key}", r, numeric=True)
        targets = {}
        for name in ("reach", "stay_below"):
            targets[name] = r.table(table, name, where)
            for metric, target in targets[name].items():
                if metric not in METRICS:
                    raise r.fail(f"{where}.{name}.{metric}", f"unknown metric; the metrics are {', '.join(METRICS)}")
                r.number(target, f"{where}.{name}.{metric}")
        if not targets["reach"] and not targets["stay_below"]:
            raise r.fail(f"{where}.reach", "a check needs a target in reach or stay_below")
        within = r.integer(table, "within_epochs", where, 1, 10_000) if "within_epochs" in table else None
        about = r.texts(table, "about", where)
        for key in about:
            if key not in url_keys - {"loss"}:
                raise r.fail(f"{where}.about", f"{key!r} is not a setting (a share-link key such as m, s, lr)")
            if str(loss) in LOSSES and not any(key in p.url_keys for p in state.params_for(str(loss))):
                raise r.fail(f"{where}.about", f"{state.loss_label(str(loss))} has no setting {key}")
        fresh = table.get("fresh_run", False)
        if not isinstance(fresh, bool):
            raise r.fail(f"{where}.fresh_run", f"expected true or false, got {describe(fresh)}")
        if fresh and within is None:
            raise r.fail(f"{where}.fresh_run", "a check without within_epochs has no epoch window to count")
        if fresh and not feedback.startswith(FRESH_RUN_FEEDBACK):
            raise r.fail(f"{where}.feedback", f"a fresh_run check's feedback starts with \"{FRESH_RUN_FEEDBACK}...\"")
        out.append(Check(ident, title, dict(settings), {k: float(v) for k, v in limits["at_most"].items()},
                         {k: float(v) for k, v in limits["at_least"].items()}, within,
                         {k: float(v) for k, v in targets["reach"].items()},
                         {k: float(v) for k, v in targets["stay_below"].items()}, member, feedback, about, fresh))
    return tuple(out)
