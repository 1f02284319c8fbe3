"""Patient file: a pseudonym, the comfortable forward pace and personal caps."""

from __future__ import annotations

from pydantic import Field, model_validator

from treadctl.config.errors import FieldError
from treadctl.config.machine import Strict


class PatientConfig(Strict):
    pseudonym: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    comfortable_forward_kmh: float = Field(gt=0, le=12.0)
    max_forward_kmh: float | None = Field(default=None, gt=0)
    max_backward_kmh: float | None = Field(default=None, gt=0)
    # optional: only for the energy estimate (kcal = METs x kg x hours); None: no estimate
    body_mass_kg: float | None = Field(default=None, ge=10.0, le=300.0)
    # backward running (targets above 5 km/h backward) needs this and the profile's opt-in
    athlete_opt_in: bool = False
    notes: str = ""

    @model_validator(mode="after")
    def _caps(self) -> PatientConfig:
        if (
            self.max_forward_kmh is not None
            and self.max_backward_kmh is not None
            and self.max_backward_kmh > self.max_forward_kmh
        ):
            raise FieldError("max_backward_kmh", "must not exceed max_forward_kmh")
        return self
