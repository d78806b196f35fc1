"""THE parameter schema of Margin Lab: one typed table of every control of a live unit.

Every value that reaches the model goes through here, whatever its origin: a widget, the URL
(`?loss=cosface&margin=0.3`), and a lesson's preset or a course file. The table says, for each setting,
its name (the URL key and TrainConfig field alike; older short keys such as `m` are aliases), type,
default, range, step, unit, label and help text, and whether it is *hot*
(applied to the running model, which keeps its weights: margins, scale, learning rate) or *cold*
(the model is rebuilt from the seed: loss family, dataset, embedding dim, backbone, batch size,
seed) -- the TensorFlow Playground convention (docs/teaching.md §2).

Defaults are not typed in here: they come from the library (`toy_models.train.TrainConfig` and
`toy_models.heads.LOSS_SPECS`). What this module adds are the *UI* ranges the library leaves open
(the scale slider, the learning-rate ladder, the batch sizes on offer).

    values, notices = validate(st.query_params-like mapping)   # clamp, ignore, say which
    to_query(values)                                          # the share link's parameters

`validate` never raises for bad input: an out-of-range number is clamped, a malformed or unknown
value is ignored, and each correction comes back as one plain sentence, e.g.
"URL value m=9 is above ArcFace's maximum 1.57 rad; using 1.57."

Two modules: `schema` (the table, its stops and the bridge to TrainConfig) and `urls` (validation of
anything from a user, and the share link).
"""

from app.state.schema import (
    BATCH_SIZES,
    DATA_NAMES,
    DRAWN_DIMS,
    GRADIENTS_SHOWN,
    LR_LADDER,
    MAX_TEXT,
    SCALE_RANGE,
    SEED_MAX,
    SHARED_NAMES,
    TRAINING_NAMES,
    Param,
    all_url_keys,
    check_control_names,
    cold_changes,
    cold_key,
    config_fields,
    control_name,
    control_names,
    defaults,
    format_value,
    hot_values,
    is_active,
    loss_label,
    param_by_name,
    params_for,
    schema_rows,
    shared_param,
    shared_params,
    shared_url_keys,
    snap,
    stops,
)
from app.state.urls import Validated, to_query, validate, validate_over_preset, validate_shared

__all__ = [
    "BATCH_SIZES",
    "DATA_NAMES",
    "DRAWN_DIMS",
    "GRADIENTS_SHOWN",
    "LR_LADDER",
    "MAX_TEXT",
    "SCALE_RANGE",
    "SEED_MAX",
    "SHARED_NAMES",
    "TRAINING_NAMES",
    "Param",
    "Validated",
    "all_url_keys",
    "check_control_names",
    "cold_changes",
    "cold_key",
    "config_fields",
    "control_name",
    "control_names",
    "defaults",
    "format_value",
    "hot_values",
    "is_active",
    "loss_label",
    "param_by_name",
    "params_for",
    "schema_rows",
    "shared_param",
    "shared_params",
    "shared_url_keys",
    "snap",
    "stops",
    "to_query",
    "validate",
    "validate_over_preset",
    "validate_shared",
]

# --------------------------------------------------------------------------------------------
# UI ranges the library leaves open. Defaults themselves come from TrainConfig / LOSS_SPECS.
# --------------------------------------------------------------------------------------------
