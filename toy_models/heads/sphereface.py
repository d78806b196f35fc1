"""SphereFace (A-Softmax): the multiplicative margin through ψ, the monotone cos(mθ), for a real multiplier m ≥ 1.

The normalised form (default, opensphere style) trains on s·cos θ_j and s·ψ(θ_y). The original 2017 form keeps the
feature norm as the scale (‖x‖·cos θ_j) and blends the target as (λ·cos θ_y + ψ(θ_y)) / (1 + λ), with λ annealed
per training step: λ = max(λ_min, base·(1 + γ·iter)^−power) (wy1iu/sphereface).
"""

from __future__ import annotations

import math

import torch

from .head import MarginHead, Target
from .spec import LossSpec, MarginNotes, angle_of

SPHEREFACE_FORMS = ("normalized", "original")


def sphereface_lambda(
    iteration: int, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0
) -> float:
    """SphereFace's annealing weight λ = max(λ_min, base·(1 + γ·iter)^−power) (wy1iu/sphereface).

    The target logit is blended as (λ·cos θ + ψ(θ)) / (1 + λ): a large λ early keeps training
    close to plain softmax, and λ decays towards λ_min as the margin takes over.
    """
    return max(lambda_min, base * (1.0 + gamma * iteration) ** (-power))


def psi(theta: torch.Tensor, m: float) -> torch.Tensor:
    """SphereFace's monotone extension of cos(mθ) for a real multiplier m ≥ 1.

    On [kπ/m, (k+1)π/m] it is (−1)^k cos(mθ) − 2k; the pieces meet at 1 − 2k, so ψ is
    continuous and strictly decreasing on [0, π]. k is piecewise constant (no gradient).
    """
    k = torch.floor(m * theta.detach() / math.pi)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * torch.cos(m * theta) - 2.0 * k



def lambda_text(lam: float) -> str:
    """SphereFace's λ as every view prints it: whole from 100 up, else three significant digits, never in
    scientific notation ("1000", "12.3", "0.5")."""
    lam = float(lam)
    if abs(lam) >= 100:
        return f"{lam:.0f}"
    text = f"{lam:.3g}"
    return f"{lam:.3f}".rstrip("0").rstrip(".") if "e" in text else text

class SphereFaceSpec(LossSpec):
    name = "sphereface"
    label = "SphereFace (A-Softmax)"
    margin_unit = "x"
    default_margin = 1.5
    margin_range = (1.0, 8.0)
    margin_step = 0.05
    margin_label = "Multiplier m (×)"
    margin_help = ("SphereFace multiplies the target angle: the target is ψ(θ), a monotone extension of cos(m·θ), "
                   "times s (normalized form) or ‖x‖ (original form). 1 = no margin.")
    target_options = frozenset({"sphereface_lambda"})
    head_options = (("form", "sphereface_form"),)
    own_fields = ("sphereface_form", "lambda_base", "lambda_gamma", "lambda_power", "lambda_min")
    # ψ(θ) already holds the multiplier (it is the monotone cos(mθ)): writing ψ(mθ) would apply m twice.
    formula = "ψ(θ), the monotone cos(mθ)"
    notes = MarginNotes(
        caption="SphereFace has no hard limit, but with {spread} ({best} is {sep_deg:.1f}°) a sample must stay within "
                "±{arc_deg:.1f}° of its centre at m = {margin:.2f}{blend}.",
        blend=" once λ has fallen to λ min = {sphereface_lambda:g}",
    )
    sweep_top = 4.0  # the paper sweeps m = 1 … 4
    summary = "SphereFace multiplies the target angle (ψ(θ), a monotone cos(m·θ))"
    color = "#009E73"

    def target(self, cos, margin, *, sphereface_lambda=0.0, **options):
        """sphereface_lambda blends the target as (λ·cos + ψ)/(1 + λ) (0: pure ψ)."""
        value = psi(angle_of(cos), float(margin))
        if sphereface_lambda:
            return (sphereface_lambda * cos + value) / (1.0 + sphereface_lambda)
        return value

    def legend_formula(self, *, sphereface_lambda=0.0, **options):
        return "(λ·cos θ + ψ(θ)) / (1 + λ)" if sphereface_lambda else self.formula  # λ's value is in the subtitle

    def options_text(self, *, sphereface_lambda=0.0, **options):
        return f", λ = {lambda_text(sphereface_lambda)}" if sphereface_lambda else ""

    def feature_norm_scale(self, values):
        return values.get("sphereface_form") == "original"

    def run_note(self, config, hyper, step):
        if config.sphereface_form != "original":
            return ""
        lam = hyper.get("sphereface_lambda", 0.0)
        return (f"λ = {lambda_text(lam)} at step {step:,}, falling to λ min = {lambda_text(config.lambda_min)}: the "
                "target is (λ·cos θ + ψ(θ)) / (1 + λ).")

    def max_margin(self, separation_rad, **ignored):
        return math.inf  # g(0) = ψ(0) = 1 for every m: no finite bound by this rule

    def half_arcs(self, margin, seps, *, sphereface_lambda=0.0, **options):
        if sphereface_lambda:
            return None
        return seps / (margin + 1.0)  # cos(mφ) = cos(sep − φ)

    def combined_equivalent(self, margin):
        return (float(margin), 0.0, 0.0)  # cos(mθ) equals ψ(θ) only on its first piece θ ≤ π/m, and without λ

    def settled_options(self, values):
        """The original form's λ falls towards λ_min: a note assumes it has got there."""
        original = values.get("sphereface_form") == "original"
        return {"sphereface_lambda": float(values["lambda_min"]) if original else 0.0}


class SphereFaceHead(MarginHead):
    """form="normalized" (default): unit features, logits s·cos θ_j and s·ψ(θ_y). form="original": the feature norm
    is the scale and the target is the λ blend, λ annealed per training step (see the module's docstring)."""

    spec = SphereFaceSpec()

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        *,
        form: str = "normalized",
        lambda_base: float = 1000.0,
        lambda_gamma: float = 0.12,
        lambda_power: float = 1.0,
        lambda_min: float = 5.0,
        **kwargs,
    ):
        super().__init__(embedding_dim, num_classes, **kwargs)
        if form not in SPHEREFACE_FORMS:
            raise ValueError(f"unknown SphereFace form {form!r}: choose 'normalized' or 'original'")
        self.form = form
        self.lambda_base = float(lambda_base)
        self.lambda_gamma = float(lambda_gamma)
        self.lambda_power = float(lambda_power)
        self.lambda_min = float(lambda_min)
        # Caffe increments the iteration before use, so the first step already uses iter = 1.
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def hyper(self) -> dict:
        values = {**super().hyper(), "form": self.form}
        if self.form == "original":
            values.update(
                lambda_base=self.lambda_base,
                lambda_gamma=self.lambda_gamma,
                lambda_power=self.lambda_power,
                lambda_min=self.lambda_min,
            )
        return values

    def current_lambda(self) -> float:
        """λ in use now (0 in the normalised form, which has no annealing)."""
        if self.form != "original":
            return 0.0
        return sphereface_lambda(
            int(self.iteration), self.lambda_base, self.lambda_gamma, self.lambda_power, self.lambda_min
        )

    def target_options(self) -> dict:
        return {"sphereface_lambda": self.current_lambda()}

    def scale_for(self, embeddings: torch.Tensor) -> float | torch.Tensor:
        if self.form == "original":
            return embeddings.float().norm(dim=1, keepdim=True)
        return self.scale

    def training_target(self) -> Target:
        if self.training:
            self.iteration += 1  # the one place λ's schedule advances: once per training forward
        return super().training_target()
