"""Skin dose of one projection RDSR: geometry, profile, phantom, kernel — one call, everything a caller stores.

:func:`study_skin_dose` never returns a silent zero: an unknown system gives ``status="geometry_unknown"`` (or,
with ``allow_default=True``, the ``default`` profile, named in the result and its method record); events that
cannot be beams are listed with the reason; every assumption made on the way is in ``method["assumptions"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dmslab.skindose.beams import Beam, Support
from dmslab.skindose.compute import Corrections, SkinDoseResult, skin_dose
from dmslab.skindose.geometry import EventGeometry, event_geometries
from dmslab.skindose.phantom import body_phantom, flat_phantom
from dmslab.skindose.profiles import DEFAULT_CENTRE_CM, GeometryProfile, find_profile, profiles, to_beam
from dmslab.skindose.tables import transmission_table

if TYPE_CHECKING:
    from dmslab.ingest.rdsr import Item

__all__ = ["Patient", "StudyOptions", "StudySkinDose", "patient_position", "study_skin_dose"]


@dataclass(frozen=True)
class Patient:
    height_cm: float | None = None
    mass_kg: float | None = None


@dataclass(frozen=True)
class StudyOptions:
    phantom: str = "body"  # or "flat"
    cell_cm: float = 1.0
    allow_default: bool = False  # an unknown system gets the default profile, labelled so, instead of no result
    corrections: Corrections | None = None


@dataclass(frozen=True)
class StudySkinDose:
    status: str  # "ok", "geometry_unknown", "no_usable_events"
    message: str
    manufacturer: str | None
    model: str | None
    profile: str | None
    profile_confidence: str | None
    position: str | None
    events: tuple[EventGeometry, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (event uid, reason)
    result: SkinDoseResult | None = None
    method: dict[str, object] = field(default_factory=dict)


def patient_position(events: tuple[EventGeometry, ...]) -> tuple[str, list[str]]:
    """HFS/FFS/HFP/FFP from the first event that sends it; HFS (stated) when none does or it is not one of these."""
    notes: list[str] = []
    rel = next((e.patient_table_relationship for e in events if e.patient_table_relationship), None)
    mod = next((e.patient_orientation_modifier for e in events if e.patient_orientation_modifier), None)
    if rel not in ("headfirst", "feetfirst"):
        notes.append(f"patient table relationship {rel or 'not sent'}: head first assumed")
        rel = "headfirst"
    if mod not in ("supine", "prone"):
        notes.append(f"patient orientation {mod or 'not sent'}: supine assumed")
        mod = "supine"
    return ("HF" if rel == "headfirst" else "FF") + ("S" if mod == "supine" else "P"), notes


def _profile(manufacturer: str | None, model: str | None, allow_default: bool) -> GeometryProfile | None:
    p = find_profile(manufacturer, model)
    if p is None and allow_default:
        return profiles()["default"]
    return p


def _beams(events: tuple[EventGeometry, ...], prof: GeometryProfile, centre: tuple[float, float, float],
           notes: set[str]) -> tuple[list[Beam], list[tuple[str, str]]]:
    beams: list[Beam] = []
    skipped: list[tuple[str, str]] = []
    for g in events:
        b = to_beam(g, prof, notes, centre)
        if isinstance(b, str):
            skipped.append((g.event_uid or f"event[{g.index}]", b))
        else:
            beams.append(b)
    return beams, skipped


def study_skin_dose(root: Item, manufacturer: str | None, model: str | None, patient: Patient | None = None,
                    options: StudyOptions | None = None) -> StudySkinDose:
    """Skin dose of the projection RDSR ``root`` from a system (``manufacturer``, ``model`` of the header)."""
    opt = options or StudyOptions()
    events = event_geometries(root)
    prof = _profile(manufacturer, model, opt.allow_default)
    base = dict(manufacturer=manufacturer, model=model, events=events)
    if prof is None:
        return StudySkinDose("geometry_unknown", f"geometry unknown for {manufacturer!r} / {model!r}: no profile in "
                             "skin_geometry_profiles.csv (allow_default=True uses the default profile, labelled so)",
                             profile=None, profile_confidence=None, position=None, **base)  # type: ignore[arg-type]
    pat = patient or Patient()
    if opt.phantom == "body":
        ph = body_phantom(pat.height_cm, pat.mass_kg, opt.cell_cm)
    else:
        ph = flat_phantom(cell_cm=opt.cell_cm)
    position, pos_notes = patient_position(events)
    cx, cy, cz = DEFAULT_CENTRE_CM
    centre = (cx, cy if position.startswith("HF") else -ph.height_cm - cy, cz)  # feet first: the head is down the table
    notes: set[str] = set(pos_notes)
    beams, skipped = _beams(events, prof, centre, notes)
    label = prof.name + (" (geometry unknown: default profile)" if prof.name == "default" else "")
    if not beams:
        return StudySkinDose("no_usable_events", f"none of {len(events)} events can be a beam", profile=label,
                             profile_confidence=prof.confidence, position=position, skipped=tuple(skipped),
                             **base)  # type: ignore[arg-type]
    res = skin_dose(beams, ph, position, Support(transmission=transmission_table()), opt.corrections,
                    assumptions=tuple(sorted(notes)))
    method = {**res.method, "geometry_profile": label, "profile_confidence": prof.confidence,
              "profile_source": prof.source, "system": f"{manufacturer} / {model}",
              "events_skipped": [f"{u}: {r}" for u, r in skipped]}
    return StudySkinDose("ok", f"{len(beams)} of {len(events)} events used", profile=label,
                         profile_confidence=prof.confidence, position=position, skipped=tuple(skipped),
                         result=res, method=method, **base)  # type: ignore[arg-type]
