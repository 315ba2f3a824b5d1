"""Every coded concept dmslab reads, matched on ``(scheme, value)`` — never on code meaning.

Legacy SNOMED-RT (``SRT``) designators are mapped to current SNOMED CT (``SCT``) with pydicom's
mapping table, so both generations of RDSR match the same key.

References
----------
DICOM PS3.16 TID 10001, 10011 and their sub-templates; code values checked against
``../shared/reference/rdsr_concepts.csv`` (DCMTK dcm.h and pydicom concept dictionaries).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

__all__ = ["CodeKey", "code_key", "DCM", "SCT", "label_for", "laterality_for"]


class CodeKey(NamedTuple):
    """A coded concept identity: coding scheme designator and code value."""

    scheme: str
    value: str


@lru_cache(maxsize=1)
def _srt_to_sct() -> dict[str, str]:
    from pydicom.sr._snomed_dict import mapping  # pydicom's SRT -> SCT table

    return dict(mapping["SRT"])


#: Scheme designator variants (data/vendor_quirks.csv: snomed-scheme-alias, unit-scheme-ucm).
_SCHEME_ALIASES = {"SNM3": "SRT", "99SDM": "SRT", "UCM": "UCUM"}


def code_key(scheme: str | None, value: str | None) -> CodeKey:
    """Return the normalised key of a code; SRT values are translated to SCT.

    >>> code_key("SRT", "P5-08000")
    CodeKey(scheme='SCT', value='77477000')
    >>> code_key("DCM", "113830 ")
    CodeKey(scheme='DCM', value='113830')
    """
    s = (scheme or "").strip().upper()
    v = (value or "").strip()
    s = _SCHEME_ALIASES.get(s, s)
    if s == "SRT":
        sct = _srt_to_sct().get(v)
        if sct is not None:
            return CodeKey("SCT", sct)
    return CodeKey(s, v)


def DCM(value: str) -> CodeKey:
    """A DICOM (``DCM``) code key."""
    return CodeKey("DCM", value)


def SCT(value: str) -> CodeKey:
    """A SNOMED CT (``SCT``) code key."""
    return CodeKey("SCT", value)


# --- document structure -------------------------------------------------------------------------------
XRAY_DOSE_REPORT = DCM("113701")
RADIOPHARMACEUTICAL_DOSE_REPORT = DCM("113500")
PROCEDURE_REPORTED = DCM("121058")
CT_PROCEDURE = SCT("77477000")
PROJECTION_PROCEDURE = DCM("113704")
MAMMOGRAPHY_PROCEDURE = SCT("71651007")
ACQUISITION_DEVICE_TYPE = DCM("122142")
FLUORO_GUIDED_DEVICE = DCM("113957")
CASSETTE_BASED_DEVICE = DCM("113959")
INTEGRATED_DEVICE = DCM("113958")
START_OF_IRRADIATION = DCM("113809")
END_OF_IRRADIATION = DCM("113810")
SCOPE_OF_ACCUMULATION = DCM("113705")
STUDY_INSTANCE_UID = DCM("110180")
COMMENT = DCM("121106")

# TID 1002 / 1004 observer context
DEVICE_OBSERVER_UID = DCM("121012")
DEVICE_OBSERVER_NAME = DCM("121013")
DEVICE_OBSERVER_MANUFACTURER = DCM("121014")
DEVICE_OBSERVER_MODEL = DCM("121015")
DEVICE_OBSERVER_SERIAL = DCM("121016")
DEVICE_OBSERVER_LOCATION = DCM("121017")

# --- CT (TID 10011-10015) -----------------------------------------------------------------------------
CT_ACCUMULATED = DCM("113811")
TOTAL_EVENTS = DCM("113812")
CT_DLP_TOTAL = DCM("113813")
CT_EFFECTIVE_DOSE_TOTAL = DCM("113814")
CT_ACQUISITION = DCM("113819")
ACQUISITION_PROTOCOL = DCM("125203")
TARGET_REGION = DCM("123014")
CT_ACQUISITION_TYPE = DCM("113820")
IRRADIATION_EVENT_UID = DCM("113769")
CT_ACQUISITION_PARAMETERS = DCM("113822")
EXPOSURE_TIME = DCM("113824")
EXPOSURE_TIME_RETIRED = DCM("113735")
SCANNING_LENGTH = DCM("113825")
EXPOSED_RANGE = DCM("113899")
SINGLE_COLLIMATION = DCM("113826")
TOTAL_COLLIMATION = DCM("113827")
PITCH_FACTOR = DCM("113828")
NUMBER_OF_SOURCES = DCM("113823")
CT_SOURCE_PARAMETERS = DCM("113831")
SOURCE_ID = DCM("113832")
KVP = DCM("113733")
MAX_TUBE_CURRENT = DCM("113833")
TUBE_CURRENT = DCM("113734")
ROTATION_TIME = DCM("113834")
CT_DOSE = DCM("113829")
MEAN_CTDIVOL = DCM("113830")
PHANTOM_TYPE = DCM("113835")
PHANTOM_HEAD_16 = DCM("113690")
PHANTOM_BODY_32 = DCM("113691")
DLP = DCM("113838")
EFFECTIVE_DOSE = DCM("113839")
SSDE = DCM("113930")
WATER_EQUIVALENT_DIAMETER = DCM("113980")
MODULATION_TYPE = DCM("113842")
DOSE_CHECK_ALERT = DCM("113900")
DOSE_CHECK_NOTIFICATION = DCM("113908")
DLP_ALERT_VALUE = DCM("113903")
CTDIVOL_ALERT_VALUE = DCM("113904")
ACCUM_DLP_FORWARD = DCM("113905")
ACCUM_CTDIVOL_FORWARD = DCM("113906")
REASON_FOR_PROCEEDING = DCM("113907")
DLP_NOTIFICATION_VALUE = DCM("113911")
CTDIVOL_NOTIFICATION_VALUE = DCM("113912")
DLP_FORWARD = DCM("113913")
CTDIVOL_FORWARD = DCM("113914")

# --- projection X-ray (TID 10001-10007) ---------------------------------------------------------------
ACCUMULATED_XRAY_DOSE = DCM("113702")
ACQUISITION_PLANE = DCM("113764")
DAP_TOTAL = DCM("113722")
RP_DOSE_TOTAL = DCM("113725")
FLUORO_DAP_TOTAL = DCM("113726")
FLUORO_RP_TOTAL = DCM("113728")
FLUORO_TIME_TOTAL = DCM("113730")
ACQ_DAP_TOTAL = DCM("113727")
ACQ_RP_TOTAL = DCM("113729")
ACQ_TIME_TOTAL = DCM("113855")
TOTAL_FRAMES = DCM("113731")
DIST_SOURCE_TO_RP = DCM("113737")
REFERENCE_POINT_DEFINITION = DCM("113780")
CALIBRATION_FACTOR = DCM("122322")
ACCUMULATED_AGD = DCM("111637")
LATERALITY = SCT("272741003")
RIGHT = SCT("24028007")
LEFT = SCT("7771000")
RIGHT_AND_LEFT = SCT("51440002")
RIGHT_BREAST = SCT("73056007")  # legacy SRT T-04020
LEFT_BREAST = SCT("80248007")  # legacy SRT T-04030
BOTH_BREASTS = SCT("63762007")  # legacy SRT T-04080
IRRADIATION_EVENT = DCM("113706")
DATETIME_STARTED = DCM("111526")
IRRADIATION_EVENT_TYPE = DCM("113721")
IMAGE_VIEW = DCM("111031")
DAP = DCM("122130")
RP_DOSE = DCM("113738")
AGD = DCM("111631")
ESAK = DCM("111636")
PATIENT_EQUIVALENT_THICKNESS = DCM("111638")
FLUORO_MODE = DCM("113732")
PULSE_RATE = DCM("113791")
NUMBER_OF_PULSES = DCM("113768")
IRRADIATION_DURATION = DCM("113742")
AVERAGE_TUBE_CURRENT = DCM("113767")
EXPOSURE = DCM("113736")
PULSE_WIDTH = DCM("113793")
FOCAL_SPOT = DCM("113766")
ANODE_TARGET = DCM("111632")
XRAY_FILTERS = DCM("113771")
FILTER_TYPE = DCM("113772")
FILTER_MATERIAL = DCM("113757")
FILTER_THICKNESS_MIN = DCM("113758")
FILTER_THICKNESS_MAX = DCM("113773")
XRAY_GRID = DCM("111635")
HALF_VALUE_LAYER = DCM("111634")
FIELD_AREA = DCM("113790")
FIELD_HEIGHT = DCM("113788")
FIELD_WIDTH = DCM("113789")
PRIMARY_ANGLE = DCM("112011")
SECONDARY_ANGLE = DCM("112012")
PRIMARY_END_ANGLE = DCM("113739")
SECONDARY_END_ANGLE = DCM("113740")
COLUMN_ANGULATION = DCM("113770")
COMPRESSION_THICKNESS = DCM("111633")
COMPRESSION_FORCE = DCM("111647")
DIST_SOURCE_TO_ISOCENTER = DCM("113748")
DIST_SOURCE_TO_DETECTOR = DCM("113750")
TABLE_LONGITUDINAL = DCM("113751")
TABLE_LATERAL = DCM("113752")
TABLE_HEIGHT = DCM("113753")
# skin-dose geometry (TID 10003C mechanical data, patient position; dmslab/skindose/geometry.py)
TABLE_HEAD_TILT = DCM("113754")
TABLE_HORIZONTAL_ROTATION = DCM("113755")
TABLE_CRADLE_TILT = DCM("113756")
PATIENT_TABLE_RELATIONSHIP = DCM("113745")
PATIENT_ORIENTATION = DCM("113743")
PATIENT_ORIENTATION_MODIFIER = DCM("113744")
HEADFIRST = SCT("102540008")  # legacy SRT F-10470
FEETFIRST = SCT("102541007")  # legacy SRT F-10480
SUPINE = SCT("40199007")  # legacy SRT F-10340
PRONE = SCT("1240000")  # legacy SRT F-10310
#: X-Ray Filter Material (CID 10006) read as copper / aluminium; SRT C-127F9 "Copper or Copper compound" has no
#: SCT in pydicom's map and is kept as sent (seen in Siemens, Philips and Canon RDSRs of the corpus)
COPPER_FILTERS = frozenset({SCT("66925006"), CodeKey("SRT", "C-127F9")})
#: aluminium; "Aluminum or Aluminum compound"; and that code's SRT value sent under the DCM designator (Eurocolumbus)
ALUMINIUM_FILTERS = frozenset({SCT("12503006"), SCT("105830007"), CodeKey("DCM", "C-120F9")})
EXPOSURE_INDEX = DCM("113845")
TARGET_EXPOSURE_INDEX = DCM("113846")
DEVIATION_INDEX = DCM("113847")

# Value-set members turned into short, stable labels (code -> label). Unknown codes are kept as "SCHEME:VALUE".
_LABELS: dict[CodeKey, str] = {
    # CID 10013 CT acquisition type
    DCM("113804"): "sequenced",
    SCT("116152004"): "spiral",
    DCM("113805"): "constant_angle",
    DCM("113806"): "stationary",
    DCM("113807"): "free",
    SCT("702569007"): "cone_beam",
    # CID 10002 irradiation event type
    SCT("44491008"): "fluoroscopy",
    DCM("113611"): "stationary",
    DCM("113612"): "stepping",
    DCM("113613"): "rotational",
    # CID 10003 acquisition plane
    DCM("113622"): "single",
    DCM("113620"): "A",
    DCM("113621"): "B",
    DCM("113890"): "all",
    # CID 244 / 6022 laterality
    RIGHT: "R",
    LEFT: "L",
    RIGHT_AND_LEFT: "B",
    # phantoms
    PHANTOM_HEAD_16: "16",
    PHANTOM_BODY_32: "32",
}


def label_for(key: CodeKey) -> str:
    """Short label for a value-set member, or ``"SCHEME:VALUE"`` when dmslab has no label for it.

    >>> label_for(code_key("SRT", "P5-08001"))
    'spiral'
    """
    return _LABELS.get(key, f"{key.scheme}:{key.value}")


#: Laterality values (SCT 272741003) -> R/L/B: the CID 244 qualifier values and the breast codes (CID 6023
#: anatomy) some mammography systems send instead (quirk breast-code-laterality).
_LATERALITY: dict[CodeKey, str] = {RIGHT: "R", LEFT: "L", RIGHT_AND_LEFT: "B",
                                   RIGHT_BREAST: "R", LEFT_BREAST: "L", BOTH_BREASTS: "B"}
#: The laterality values of :data:`_LATERALITY` that are breast (anatomy) codes, not qualifier values.
BREAST_LATERALITY = frozenset({RIGHT_BREAST, LEFT_BREAST, BOTH_BREASTS})


def laterality_for(key: CodeKey) -> str | None:
    """``"R"``, ``"L"`` or ``"B"`` for a laterality value, whichever coding it uses; ``None`` when unknown.

    Matched on ``(scheme, value)`` after SRT -> SCT mapping, so G-A100, SCT 24028007, T-04020 and
    SCT 73056007 are all the right side.

    >>> laterality_for(code_key("SRT", "T-04030")), laterality_for(code_key("SRT", "G-A102"))
    ('L', 'B')
    >>> laterality_for(code_key("DCM", "999")) is None
    True

    References
    ----------
    DICOM PS3.16 CID 244 Laterality, CID 6022 Side, TID 10005 (Accumulated Average Glandular Dose).
    """
    return _LATERALITY.get(key)
