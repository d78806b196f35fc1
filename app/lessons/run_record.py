"""A live run <-> its replayable record (RUN in app.course.record), in share-link terms.

The app's side: `run_record(trainer, metrics)` turns a running `Trainer` into RUN: the values it was built
from as share-link URL keys (app.state.to_query), its hot changes (Trainer.hyper_log, TrainConfig fields) as
URL keys too, where it stands, and the metrics it claims. The grader's side: `replay_inputs(run)` turns RUN
back into (TrainConfig, hyper_log, clean values), through the same validation a share link gets, and
`replay_run(run)` rebuilds the Trainer with toy_models.train.replay.

A compare lesson trains several losses as one MultiTrainer, so its RUN records every member (in the
MultiTrainer's order) and names the member the check is about:

    {"unit": "compare", "member": "arcface",
     "members": {"softmax": {"initial": {...}, "hyper_log": [...]}, "arcface": {...}, ...},
     "step": 240, "epoch": 20, "metrics": {...}}                # the checked member's metrics

`replay_run` rebuilds the whole MultiTrainer (toy_models.train.replay_multi) and returns the checked member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app import state
from toy_models.train import MultiTrainer, TrainConfig, replay, replay_multi


class RunError(ValueError):
    """A RUN that cannot be replayed; str() is one sentence naming the field."""


def values_of_config(config: TrainConfig) -> dict[str, Any]:
    """Clean values (by Param name) of the controls `config` sets: the inverse of app.state.config_fields."""
    values = state.defaults(config.loss)
    for param in state.params_for(config.loss):
        value = getattr(config, param.name)  # a control's name is its TrainConfig field
        if value is not None:  # None: the library's default, which is the control's (train_identities: all K)
            values[param.name] = value
    return values


def _query_log(initial: TrainConfig, hyper_log: Sequence[tuple[int, Mapping[str, Any]]]) -> list[list]:
    """Trainer.hyper_log (TrainConfig fields) as [[step, {URL key: text}], ...]: each entry the keys whose
    text changed. Settings with no control (snapshot_per_class) change nothing a replay needs and are left out."""
    names = {p.name for p in state.params_for(initial.loss)}
    values = values_of_config(initial)
    query = state.to_query(values)
    out = []
    for step, changes in hyper_log:
        for field, value in changes.items():
            if field in names:
                values[field] = value
        new_query = state.to_query(values)
        changed = {key: text for key, text in new_query.items() if query.get(key) != text}
        if changed:
            out.append([int(step), changed])
        query = new_query
    return out


def _member_part(trainer: Any) -> dict[str, Any]:
    return {"initial": state.to_query(values_of_config(trainer.initial_config)),
            "hyper_log": _query_log(trainer.initial_config, list(trainer.hyper_log))}


def run_record(trainer: Any, metrics: Mapping[str, float], *, unit: str = "live") -> dict[str, Any]:
    """RUN for a submission: how to rebuild `trainer` as it is now, and the `metrics` it shows now
    (app.lessons.checks.run_metrics(trainer)). Call it with the run's lock held (the log must not grow meanwhile).

    trainer: a Trainer (unit "live"), or a MultiTrainer member (unit "compare": every member of its owner is
    recorded, so that the grader can replay them all); initial_config is what a model was really built from (a
    dataset the app fell back to included)."""
    where = {"step": int(trainer.step), "epoch": int(trainer.epoch),
             "metrics": {str(name): float(value) for name, value in metrics.items()}}
    owner = getattr(trainer, "owner", None)
    if owner is None:
        return {"unit": unit, **_member_part(trainer), **where}
    members = {member.config.loss: _member_part(member) for member in owner.members}
    if len(members) != len(owner.members):
        raise ValueError("a compare run can be recorded only if each member has its own loss")
    return {"unit": "compare", "member": trainer.config.loss, "members": members, **where}


def _validated(raw: Mapping[str, str], field: str) -> dict[str, Any]:
    values, notices = state.validate(raw, source="Report")
    if notices:
        raise RunError(f"{field}: {notices[0]}")
    return values


def replay_inputs(run: Mapping[str, Any], *, data_dir: str | None = None,
                  field: str = "run") -> tuple[TrainConfig, list[tuple[int, dict[str, Any]]], dict[str, Any]]:
    """(initial TrainConfig, hyper_log in TrainConfig fields, clean values at the run's end) of a RUN.

    Every value passes app.state.validate as a share link would; a value the app would have corrected (out of
    range, unknown key) or a cold setting in the log means the record was not made by the app: RunError.
    """
    values = _validated(run["initial"], f"{field}.initial")
    fields = state.config_fields(values)
    try:
        config = TrainConfig(**fields, data_dir=data_dir, num_threads=1)  # one thread, as the app trains
    except ValueError as err:
        raise RunError(f"{field}.initial: {err}.") from None
    log: list[tuple[int, dict[str, Any]]] = []
    for i, (step, changes) in enumerate(run["hyper_log"]):
        new = _validated({**state.to_query(values), **changes}, f"{field}.hyper_log[{i}]")
        cold = state.cold_changes(values, new)
        if cold:
            raise RunError(f"{field}.hyper_log[{i}]: {cold[0]} cannot change while a model trains.")
        before = state.hot_values(values)
        hot = {name: value for name, value in state.hot_values(new).items() if before.get(name) != value}
        if hot:
            log.append((int(step), hot))
        values = new
    return config, log, values


def compare_inputs(run: Mapping[str, Any], *, data_dir: str | None = None, field: str = "run",
                   ) -> tuple[list[TrainConfig], list[list[tuple[int, dict[str, Any]]]], dict[str, dict]]:
    """(member configs, their hot-change logs, each member's clean values at the run's end by loss) of a compare
    RUN, each member checked as `replay_inputs` checks a live one; a member whose loss is not its key: RunError."""
    configs, logs, values = [], [], {}
    for loss, part in run["members"].items():
        where = f"{field}.members.{loss}"
        config, log, end = replay_inputs({**part, "step": run["step"]}, data_dir=data_dir, field=where)
        if config.loss != loss:
            raise RunError(f"{where}.initial: its loss is {config.loss}, not {loss}.")
        configs.append(config)
        logs.append(log)
        values[loss] = end
    return configs, logs, values


def replay_compare_run(run: Mapping[str, Any], *, data_dir: str | None = None, field: str = "run",
                       max_epochs: int | None = None) -> tuple[MultiTrainer, dict[str, dict]]:
    """(the rebuilt MultiTrainer of a compare RUN at its step, each member's clean values at its end by loss, in
    the trainer's order). RunError for a bad RUN, or one longer than `max_epochs`."""
    configs, logs, values = compare_inputs(run, data_dir=data_dir, field=field)
    try:
        multi = replay_multi(configs, logs, int(run["step"]), max_epochs=max_epochs)
    except ValueError as err:
        raise RunError(f"{field}: {str(err).rstrip('.')}.") from None
    return multi, values


def replay_run(run: Mapping[str, Any], *, data_dir: str | None = None, field: str = "run",
               max_epochs: int | None = None) -> tuple[Any, dict]:
    """(the rebuilt Trainer at the run's step, the clean values at its end); for a compare RUN, the checked
    member of the rebuilt MultiTrainer and its values. RunError for a bad RUN, or one longer than `max_epochs`."""
    if run.get("unit") == "compare" and "members" in run:
        if run["member"] not in run["members"]:
            raise RunError(f"{field}.member: {run['member']} is not one of the run's members.")
        multi, values = replay_compare_run(run, data_dir=data_dir, field=field, max_epochs=max_epochs)
        return multi.members[list(values).index(run["member"])], values[run["member"]]
    config, log, values = replay_inputs(run, data_dir=data_dir, field=field)
    try:
        trainer = replay(config, log, int(run["step"]), max_epochs=max_epochs)
    except ValueError as err:
        raise RunError(f"{field}: {err}.") from None
    return trainer, values
