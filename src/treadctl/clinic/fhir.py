"""Sessions as HL7 FHIR (R4) Observations for an EHR, with the Physical Activity IG's codes.

One session gives: the activity (LOINC 73985-4 "Exercise activity" = LA11834-1 "Walking"),
its duration (55411-3 "Exercise duration", min: the belt's moving time), mean and
maximum heart rate (55425-3, 55426-1, /min) when a strap was read, the distance walked
(55430-3 "Walking distance unspecified time Pedometer", m: outside the IG's value set,
the nearest LOINC term) and the belt speeds (km/h, components under treadctl's own code
system: no LOINC term names a treadmill's backward speed). Categories: `activity` and the
IG's temporary `PhysicalActivity`, as the IG's examples.

Identity: the subject and performer are the patient's pseudonym as an identifier, never a
name; the patient file's notes are not read. Observation identifiers are stable (treadmill,
session uuid, measure), so an EHR importing the same session twice can tell.

Plain dicts (JSON): the runtime needs no FHIR library; the tests validate every resource
with fhir.resources' R4B models.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PA_TEMPORARY = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"
# treadctl's own identifiers and codes; a clinic may set its own namespace (docs/records.md)
TREADCTL_NS = "urn:treadctl"
PSEUDONYM_SYSTEM = f"{TREADCTL_NS}:patient-pseudonym"
OBSERVATION_ID_SYSTEM = f"{TREADCTL_NS}:observation"
MEASURE_SYSTEM = f"{TREADCTL_NS}:measure"

ACTIVITY = ("73985-4", "Exercise activity")
WALKING = ("LA11834-1", "Walking")
DURATION = ("55411-3", "Exercise duration")
HR_MEAN = ("55425-3", "Heart rate unspecified time mean by Pedometer")
HR_MAX = ("55426-1", "Heart rate unspecified time maximum by Pedometer")
DISTANCE = ("55430-3", "Walking distance unspecified time Pedometer")
SPEEDS = ("belt-speeds", "Treadmill belt speeds")
SPEED_PARTS = (
    ("backward-mean-kmh", "Mean belt speed walking backward"),
    ("backward-max-kmh", "Maximum belt speed walking backward"),
    ("forward-mean-kmh", "Mean belt speed walking forward"),
    ("forward-max-kmh", "Maximum belt speed walking forward"),
)
HR_RANGE_BPM = (20.0, 300.0)  # outside: not a heart rate (a bad strap reading)
MAX_ID_CHARS = 64  # FHIR id: [A-Za-z0-9-.]{1,64}


@dataclass(frozen=True)
class SampleStats:
    """What the export needs from a session's samples (moving samples only)."""

    hr_mean_bpm: float | None
    hr_max_bpm: float | None
    backward_mean_kmh: float | None
    backward_max_kmh: float | None
    forward_mean_kmh: float | None
    forward_max_kmh: float | None

    @staticmethod
    def from_row(row: Sequence[Any]) -> SampleStats:
        """From the six aggregates of STATS_SQL; non-finite or absent values are none."""
        vals = [_finite(v) for v in row]
        hr_mean, hr_max = vals[0], vals[1]
        lo, hi = HR_RANGE_BPM
        if hr_mean is None or hr_max is None or not lo <= hr_mean <= hr_max <= hi:
            hr_mean = hr_max = None
        return SampleStats(hr_mean, hr_max, *vals[2:6])


def stats_sql(placeholder: str) -> str:
    """The six aggregates over a session's moving samples; one parameter set:
    (lo_bpm, hi_bpm, lo_bpm, hi_bpm, session_id, standstill_kmh) in `placeholder` style."""
    p = placeholder
    hr = f"CASE WHEN heart_rate_bpm BETWEEN {p} AND {p} THEN heart_rate_bpm END"
    back = "CASE WHEN direction = 'backward' THEN actual_kmh END"
    fwd = "CASE WHEN direction = 'forward' THEN actual_kmh END"
    return (
        f"SELECT avg({hr}), max({hr}), avg({back}), max({back}), avg({fwd}), "
        f"max({fwd}) FROM samples WHERE session_id = {p} AND actual_kmh > {p}"
    )


def stats_params(session_id: int, standstill_kmh: float) -> tuple[Any, ...]:
    lo, hi = HR_RANGE_BPM
    return (lo, hi, lo, hi, session_id, standstill_kmh)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _coding(system: str, code_display: tuple[str, str]) -> dict[str, Any]:
    return {"system": system, "code": code_display[0], "display": code_display[1]}


def _quantity(value: float, unit: str, code: str, digits: int) -> dict[str, Any]:
    return {"value": round(value, digits), "unit": unit, "system": UCUM, "code": code}


def _fhir_time(iso: str) -> str:
    """The store's UTC ISO text as a FHIR dateTime (seconds, explicit offset)."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", iso)
    if m is None:
        raise ValueError(f"not a UTC time: {iso!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return m.group(1) + zone


def _safe_id(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9\-.]", "-", text)
    return clean[-MAX_ID_CHARS:]


def session_observations(
    session: dict[str, Any],
    segments: Sequence[dict[str, Any]],
    stats: SampleStats,
    treadmill_id: str,
) -> list[dict[str, Any]]:
    """The session's Observations (JSON dicts). A session without a patient has none: an
    EHR files observations under a patient."""
    pseudonym = session.get("patient")
    if not pseudonym:
        return []
    uuid = str(session.get("uuid") or session.get("local_uuid") or session["id"])
    status = "preliminary" if session["status"] == "running" else "final"
    start = _fhir_time(str(session["started"]))
    ended = session.get("ended")
    period = {"start": start, **({"end": _fhir_time(str(ended))} if ended else {})}
    who = {"identifier": {"system": PSEUDONYM_SYSTEM, "value": str(pseudonym)}}
    base_note = (
        f"treadctl session on treadmill {treadmill_id}: {session['profile_name']}, "
        f"ended {session['status']}"
    )

    def observation(measure: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
        key = f"{treadmill_id}/{uuid}/{measure}"
        return {
            "resourceType": "Observation",
            "id": _safe_id(f"{uuid}-{measure}"),
            "identifier": [{"system": OBSERVATION_ID_SYSTEM, "value": key}],
            "status": status,
            "category": [
                {"coding": [{"system": OBS_CATEGORY, "code": "activity", "display": "Activity"}]},
                {
                    "coding": [
                        {
                            "system": PA_TEMPORARY,
                            "code": "PhysicalActivity",
                            "display": "Physical Activity",
                        }
                    ]
                },
            ],
            "code": code,
            "subject": who,
            "performer": [who],
            "effectivePeriod": period,
            "device": {"display": f"treadmill {treadmill_id}"},
            "note": [{"text": base_note}],
            **value,
        }

    moving_s = sum(float(g["moving_s"]) for g in segments)
    distance_m = sum(float(g["distance_m"]) for g in segments)
    out = [
        observation(
            "activity",
            {"coding": [_coding(LOINC, ACTIVITY)]},
            valueCodeableConcept={
                "coding": [_coding(LOINC, WALKING)],
                "text": "Treadmill walking, forward and backward (retro) bouts",
            },
        ),
        observation(
            "duration",
            {"coding": [_coding(LOINC, DURATION)]},
            valueQuantity=_quantity(moving_s / 60.0, "minutes", "min", 2),
        ),
        observation(
            "distance",
            {"coding": [_coding(LOINC, DISTANCE)]},
            valueQuantity=_quantity(distance_m, "m", "m", 1),
        ),
    ]
    if stats.hr_mean_bpm is not None and stats.hr_max_bpm is not None:
        out += [
            observation(
                "hr-mean",
                {"coding": [_coding(LOINC, HR_MEAN)]},
                valueQuantity=_quantity(stats.hr_mean_bpm, "beats/minute", "/min", 1),
            ),
            observation(
                "hr-max",
                {"coding": [_coding(LOINC, HR_MAX)]},
                valueQuantity=_quantity(stats.hr_max_bpm, "beats/minute", "/min", 1),
            ),
        ]
    speeds = (
        stats.backward_mean_kmh,
        stats.backward_max_kmh,
        stats.forward_mean_kmh,
        stats.forward_max_kmh,
    )
    components = [
        {
            "code": {"coding": [_coding(MEASURE_SYSTEM, part)]},
            "valueQuantity": _quantity(v, "km/h", "km/h", 2),
        }
        for part, v in zip(SPEED_PARTS, speeds, strict=True)
        if v is not None
    ]
    if components:
        out.append(
            observation(
                "speeds",
                {"coding": [_coding(MEASURE_SYSTEM, SPEEDS)], "text": SPEEDS[1]},
                component=components,
            )
        )
    return out


def bundle(observations: Sequence[dict[str, Any]], timestamp: str) -> dict[str, Any]:
    """A collection Bundle of the observations (the export file)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _fhir_time(timestamp),
        "entry": [{"fullUrl": f"urn:uuid:{_urn_uuid(o)}", "resource": o} for o in observations],
    }


def _urn_uuid(observation: dict[str, Any]) -> str:
    key = observation["identifier"][0]["value"]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{OBSERVATION_ID_SYSTEM}:{key}"))
