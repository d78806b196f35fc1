"""The Compare page's parts: the losses trained side by side (`unit`; its defaults and a lesson's preset in
`values`), and the sections built on the same member configs: the papers' figures, open-set verification, the
margin sweep.

Every section is a function `render(configs, *, key)` over the member `TrainConfig`s the live part
trains (what `MultiTrainer(configs)` accepts), so each can be read and tested on its own.

The package imports only the pure `values` (the lesson engine reads a compare preset through it without
Streamlit); the unit and the sections are imported from their modules.
"""

from app.compare.values import ComparePreset, member_defaults, parse_preset

__all__ = ["ComparePreset", "member_defaults", "parse_preset"]
