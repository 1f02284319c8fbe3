"""Energy estimate per segment: an ESTIMATE from published MET values, not a measurement.

Sources (2011 Compendium of Physical Activities, domain notes section 4):

- walking backwards, 3.5 mph, level: 6.0 METs (code 17320)
- walking backwards, 3.5 mph, 5 % grade: 8.0 METs (code 17325)
- walking forwards, 3.5 mph, brisk: 4.3 METs (code 17200)

Scaling chosen here (the Compendium gives single points):

- Speed: linear from rest. 1 MET at standstill (resting, by definition), rising in a
  straight line through the Compendium value at 3.5 mph (5.632704 km/h)::

      METs_level(v) = 1 + (METs_ref - 1) * v / 5.632704

  Above 3.5 mph this is an extrapolation (`SegmentEnergy.extrapolated`): walking METs
  say little about running, so figures for backward running or the later stages of a
  Bruce test are rough.
- Grade, backward: the Compendium's 5 % increment (8.0 - 6.0 = 2.0 METs at 3.5 mph),
  linear in grade and in speed::

      + 2.0 * (grade_pct / 5) * (v / 5.632704)

- Grade, forward: the Compendium gives no forward grade figure in the notes, so the
  grade term of the ACSM walking equation (VO2 += 1.8 * S * G ml/kg/min, S in m/min,
  G a fraction; 1 MET = 3.5 ml/kg/min), also linear in grade and speed::

      + 1.8 * (v * 1000 / 60) * (grade_pct / 100) / 3.5

- A decline (negative grade) counts as level: no credit is taken for going downhill.
- A rest segment counts 1.0 MET (the scaling's value at standstill; standing costs a
  little more).

Energy: kcal = METs x body mass (kg) x hours. Without a body mass there is no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.protocol.plan import Plan

MPH_KMH = 1.609344
REF_KMH = 3.5 * MPH_KMH  # 5.632704 km/h, the Compendium entries' speed
METS_REST = 1.0
METS_FORWARD_LEVEL = 4.3  # Compendium 17200
METS_BACKWARD_LEVEL = 6.0  # Compendium 17320
METS_BACKWARD_5PCT = 8.0  # Compendium 17325
ACSM_GRADE_ML_PER_M = 1.8  # ACSM walking equation, grade term: 1.8 * S * G
ML_O2_PER_MET = 3.5

LABEL = (
    "estimate from 2011 Compendium METs (linear in speed from rest), "
    "kcal = METs x kg x hours; not a measurement"
)


def mets(kind: SegmentKind, speed_kmh: float, incline_pct: float = 0.0) -> float:
    """Estimated METs for walking `kind` at `speed_kmh` on `incline_pct` (see module doc)."""
    if kind is SegmentKind.REST or speed_kmh <= 0:
        return METS_REST
    rel = speed_kmh / REF_KMH
    grade = max(0.0, incline_pct)
    if kind is SegmentKind.BACKWARD:
        level = METS_REST + (METS_BACKWARD_LEVEL - METS_REST) * rel
        return level + (METS_BACKWARD_5PCT - METS_BACKWARD_LEVEL) * (grade / 5.0) * rel
    level = METS_REST + (METS_FORWARD_LEVEL - METS_REST) * rel
    s_m_per_min = speed_kmh * 1000.0 / 60.0
    return level + ACSM_GRADE_ML_PER_M * s_m_per_min * (grade / 100.0) / ML_O2_PER_MET


def kcal(mets_value: float, body_mass_kg: float, seconds: float) -> float:
    """kcal = METs x kg x hours."""
    return mets_value * body_mass_kg * seconds / 3600.0


@dataclass(frozen=True, slots=True)
class SegmentEnergy:
    index: int
    label: str
    kind: SegmentKind
    speed_kmh: float
    incline_pct: float
    duration_s: float
    mets: float
    kcal: float
    extrapolated: bool  # faster than the Compendium's 3.5 mph: a straight-line guess


@dataclass(frozen=True, slots=True)
class EnergyEstimate:
    body_mass_kg: float
    segments: tuple[SegmentEnergy, ...]
    label: str = LABEL

    @property
    def total_kcal(self) -> float:
        return sum(s.kcal for s in self.segments)

    @property
    def extrapolated(self) -> bool:
        return any(s.extrapolated for s in self.segments)

    def lines(self) -> list[str]:
        out = [f"energy ({self.label}):"]
        for s in self.segments:
            more = " (extrapolated)" if s.extrapolated else ""
            out.append(
                f"  {s.index + 1:>3} {s.label:<28} {s.speed_kmh:5.2f} km/h {s.incline_pct:4.1f} % "
                f"{s.duration_s / 60:5.1f} min {s.mets:5.2f} METs {s.kcal:6.1f} kcal{more}"
            )
        out.append(f"  total about {self.total_kcal:.0f} kcal at {self.body_mass_kg:g} kg")
        return out


def estimate_plan(plan: Plan, body_mass_kg: float | None) -> EnergyEstimate | None:
    """Per-segment estimate at the planned targets; None without a body mass."""
    if body_mass_kg is None:
        return None
    rows = []
    for seg in plan.segments:
        m = mets(seg.kind, seg.target_kmh, seg.incline_pct)
        rows.append(
            SegmentEnergy(
                index=seg.index,
                label=seg.label,
                kind=seg.kind,
                speed_kmh=seg.target_kmh,
                incline_pct=seg.incline_pct,
                duration_s=seg.duration_s,
                mets=m,
                kcal=kcal(m, body_mass_kg, seg.duration_s),
                extrapolated=seg.kind is not SegmentKind.REST and seg.target_kmh > REF_KMH + 1e-9,
            )
        )
    return EnergyEstimate(body_mass_kg, tuple(rows))


def estimate_for_patient(plan: Plan, patient: PatientConfig | None) -> EnergyEstimate | None:
    """The estimate with the patient file's body mass; None without one."""
    return estimate_plan(plan, None if patient is None else patient.body_mass_kg)
