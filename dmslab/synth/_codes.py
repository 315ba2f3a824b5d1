"""Coded concepts (DCM, SNOMED in both SCT and legacy SRT form, UCUM) used by the writers.

SNOMED pairs were checked against pydicom's ``pydicom.sr._snomed_dict`` mapping and
``pydicom.sr.codedict.codes.SCT``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Code", "dcm", "snomed", "SNOMED", "UCUM_UNITS"]


class Code(NamedTuple):
    """A coded concept: code value, coding scheme designator and code meaning."""

    value: str
    scheme: str
    meaning: str


class _Snomed(NamedTuple):
    sct: str
    srt: str
    meaning: str


#: SNOMED concepts by internal key: (SCT code, legacy SRT code, meaning).
SNOMED: dict[str, _Snomed] = {
    "ct": _Snomed("77477000", "P5-08000", "Computed Tomography X-Ray"),
    "spiral": _Snomed("116152004", "P5-08001", "Spiral Acquisition"),
    "mammography": _Snomed("71651007", "P5-40010", "Mammography"),
    "fluoroscopy": _Snomed("44491008", "P5-06000", "Fluoroscopy"),
    "laterality": _Snomed("272741003", "G-C171", "Laterality"),
    "right": _Snomed("24028007", "G-A100", "Right"),
    "left": _Snomed("7771000", "G-A101", "Left"),
    "head": _Snomed("69536005", "T-D1100", "Head"),
    "sinus": _Snomed("2095001", "T-22000", "Paranasal sinus"),
    "cspine": _Snomed("122494005", "T-11501", "Cervical spine"),
    "lspine": _Snomed("122496007", "T-11503", "Lumbar spine"),
    "chest": _Snomed("51185008", "T-D3000", "Chest"),
    "abdomen": _Snomed("113345001", "T-D4000", "Abdomen"),
    "abdomen_pelvis": _Snomed("416949008", "R-FAB57", "Abdomen and Pelvis"),
    "chest_abdomen_pelvis": _Snomed("416775004", "R-FAB56", "Chest, Abdomen and Pelvis"),
    "knee": _Snomed("72696002", "T-D9200", "Knee"),
    "breast": _Snomed("76752008", "T-04000", "Breast"),
    "esophagus": _Snomed("32849002", "T-56000", "Esophagus"),
    "biliary": _Snomed("34707002", "T-60600", "Biliary tract"),
    "heart": _Snomed("80891009", "T-32000", "Heart"),
    "cc": _Snomed("399162004", "R-10242", "cranio-caudal"),
    "mlo": _Snomed("399368009", "R-10226", "medio-lateral oblique"),
    "tungsten": _Snomed("26194003", "C-16400", "Tungsten"),
    "rhodium": _Snomed("59801003", "C-16700", "Rhodium"),
    "silver": _Snomed("41967008", "C-13700", "Silver"),
    "aluminum": _Snomed("12503006", "C-12000", "Aluminum"),
    "copper": _Snomed("66925006", "C-12700", "Copper"),
}

_DCM: dict[str, str] = {
    "113701": "X-Ray Radiation Dose Report",
    "121058": "Procedure reported",
    "113704": "Projection X-Ray",
    "113957": "Fluoroscopy-Guided Projection Radiography System",
    "113958": "Integrated Projection Radiography System",
    "121005": "Observer Type",
    "121007": "Device",
    "121012": "Device Observer UID",
    "121013": "Device Observer Name",
    "121014": "Device Observer Manufacturer",
    "121015": "Device Observer Model Name",
    "121016": "Device Observer Serial Number",
    "113809": "Start of X-Ray Irradiation",
    "113810": "End of X-Ray Irradiation",
    "113705": "Scope of Accumulation",
    "113014": "Study",
    "110180": "Study Instance UID",
    "113811": "CT Accumulated Dose Data",
    "113812": "Total Number of Irradiation Events",
    "113813": "CT Dose Length Product Total",
    "113819": "CT Acquisition",
    "125203": "Acquisition Protocol",
    "123014": "Target Region",
    "113820": "CT Acquisition Type",
    "113805": "Constant Angle Acquisition",
    "113804": "Sequenced Acquisition",
    "113769": "Irradiation Event UID",
    "113822": "CT Acquisition Parameters",
    "113824": "Exposure Time",
    "113825": "Scanning Length",
    "113826": "Nominal Single Collimation Width",
    "113827": "Nominal Total Collimation Width",
    "113828": "Pitch Factor",
    "113823": "Number of X-Ray Sources",
    "113831": "CT X-Ray Source Parameters",
    "113832": "Identification of the X-Ray Source",
    "113733": "KVP",
    "113833": "Maximum X-Ray Tube Current",
    "113734": "X-Ray Tube Current",
    "113834": "Exposure Time per Rotation",
    "113829": "CT Dose",
    "113830": "Mean CTDIvol",
    "113835": "CTDIw Phantom Type",
    "113690": "IEC Head Dosimetry Phantom",
    "113691": "IEC Body Dosimetry Phantom",
    "113838": "DLP",
    "113854": "Source of Dose Information",
    "113856": "Automated Data Collection",
    "122142": "Acquisition Device Type",
    "113702": "Accumulated X-Ray Dose Data",
    "113764": "Acquisition Plane",
    "113622": "Single Plane",
    "113722": "Dose Area Product Total",
    "113725": "Dose (RP) Total",
    "113726": "Fluoro Dose Area Product Total",
    "113728": "Fluoro Dose (RP) Total",
    "113730": "Total Fluoro Time",
    "113727": "Acquisition Dose Area Product Total",
    "113729": "Acquisition Dose (RP) Total",
    "113855": "Total Acquisition Time",
    "111637": "Accumulated Average Glandular Dose",
    "113706": "Irradiation Event X-Ray Data",
    "111526": "DateTime Started",
    "113721": "Irradiation Event Type",
    "113611": "Stationary Acquisition",
    "111031": "Image View",
    "122130": "Dose Area Product",
    "113738": "Dose (RP)",
    "111631": "Average Glandular Dose",
    "111636": "Entrance Exposure at RP",
    "111633": "Compression Thickness",
    "111647": "Compression Force",
    "111632": "Anode Target Material",
    "113771": "X-Ray Filters",
    "113772": "X-Ray Filter Type",
    "113653": "Flat filter",
    "113757": "X-Ray Filter Material",
    "113758": "X-Ray Filter Thickness Minimum",
    "113773": "X-Ray Filter Thickness Maximum",
    "113736": "Exposure",
    "113791": "Pulse Rate",
    "113768": "Number of Pulses",
    "113742": "Irradiation Duration",
    "112011": "Positioner Primary Angle",
    "112012": "Positioner Secondary Angle",
    "113750": "Distance Source to Detector",
    "113751": "Table Longitudinal Position",
    "113752": "Table Lateral Position",
    "113753": "Table Height Position",
    "113790": "Collimated Field Area",
    "113845": "Exposure Index",
    "113846": "Target Exposure Index",
    "113847": "Deviation Index",
    "113780": "Reference Point Definition",
    "113860": "15cm from Isocenter toward Source",
}

#: UCUM unit codes used for numeric items (code meaning equals the code value).
UCUM_UNITS = frozenset(
    {
        "mGy",
        "mGy.cm",
        "Gy.m2",
        "Gy",
        "s",
        "ms",
        "mm",
        "kV",
        "mA",
        "uA.s",
        "m2",
        "deg",
        "N",
        "{ratio}",
        "{X-Ray sources}",
        "{events}",
        "{pulse}/s",
        "{pulses}",
        "1",
    }
)


def dcm(value: str) -> Code:
    """Return the DCM code ``value`` with its PS3.16 meaning.

    Raises
    ------
    KeyError
        If the code is not in the module's table.
    """
    return Code(value, "DCM", _DCM[value])


def snomed(key: str, legacy: bool) -> Code:
    """Return SNOMED concept ``key`` as a legacy ``SRT`` (``legacy=True``) or ``SCT`` code."""
    entry = SNOMED[key]
    if legacy:
        return Code(entry.srt, "SRT", entry.meaning)
    return Code(entry.sct, "SCT", entry.meaning)
