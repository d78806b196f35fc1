"""What every geometry module shares: validation of the loss options and the one call into heads.target_cos.

The margin target g is never re-derived in this package: every value of g comes from
`toy_models.heads.target_cos`, evaluated in float64, so the figures and the training code share one formula.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from ..heads import LOSS_SPECS, Margin, check_loss, losses_with_option, target_cos

# Angles a hair outside [0, π] (or cosines outside [−1, 1]) from float rounding are accepted and clipped.
_ROUNDING_TOL = 1e-9


def _check_options(loss: str, margin, easy_margin: bool, sphereface_lambda: float) -> Margin | None:
    """Validate loss, margin and the per-loss options; return the normalised margin."""
    spec = check_loss(loss)
    if isinstance(margin, numbers.Real) and not isinstance(margin, bool):
        margin = float(margin)
    elif margin is not None and not isinstance(margin, (str, bytes)) and isinstance(margin, Sequence | np.ndarray):
        margin = tuple(float(v) for v in margin)
    margin = spec.check_margin(margin)
    lam = float(sphereface_lambda)
    for option, used in (("easy_margin", bool(easy_margin)), ("sphereface_lambda", lam != 0.0)):
        if used and option not in spec.target_options:
            raise ValueError(f"{option} only exists for {' and '.join(losses_with_option(option))}, not for {loss}")
    if not (math.isfinite(lam) and lam >= 0.0):
        raise ValueError(f"sphereface_lambda must be a finite number ≥ 0, got {sphereface_lambda!r}")
    return margin


def _g(cos: np.ndarray, loss: str, margin: Margin | None, easy_margin: bool, sphereface_lambda: float) -> np.ndarray:
    """g at the given cosines through heads.target_cos in float64 (no validation: callers validate)."""
    cos_t = torch.as_tensor(np.asarray(cos, dtype=np.float64))
    with torch.no_grad():
        out = target_cos(cos_t, loss, margin, easy_margin=easy_margin, sphereface_lambda=float(sphereface_lambda))
    return out.numpy().astype(np.float64, copy=True)


def _g_of_theta(theta: np.ndarray, loss, margin, easy_margin, sphereface_lambda) -> np.ndarray:
    return _g(np.cos(theta), loss, margin, easy_margin, sphereface_lambda)


def _check_angles(theta_rad, name: str = "theta_rad") -> np.ndarray:
    theta = np.asarray(theta_rad, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must contain finite angles in radians")
    if np.any(theta < -_ROUNDING_TOL) or np.any(theta > math.pi + _ROUNDING_TOL):
        raise ValueError(f"{name} must lie in [0, π] radians (the angle between two vectors)")
    return np.clip(theta, 0.0, math.pi)


def _check_cosines(cos, name: str = "cos") -> np.ndarray:
    cos = np.asarray(cos, dtype=np.float64)
    if not np.all(np.isfinite(cos)):
        raise ValueError(f"{name} must contain finite cosines")
    if np.any(np.abs(cos) > 1.0 + _ROUNDING_TOL):
        raise ValueError(f"{name} must lie in [−1, 1] (cosines of angles)")
    return np.clip(cos, -1.0, 1.0)


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_weight_norms(loss: str, weight_norms) -> tuple[float, float]:
    try:
        w1, w2 = (float(v) for v in weight_norms)
    except (TypeError, ValueError):
        raise ValueError(f"weight_norms must be two numbers (‖W1‖, ‖W2‖), got {weight_norms!r}") from None
    if not (w1 > 0 and w2 > 0 and math.isfinite(w1) and math.isfinite(w2)):
        raise ValueError(f"weight_norms must be two positive numbers, got {weight_norms!r}")
    if LOSS_SPECS[loss].normalised and (w1, w2) != (1.0, 1.0):
        raise ValueError(f"weight_norms only matter for softmax: {loss} normalises the class weights to length 1")
    return w1, w2
