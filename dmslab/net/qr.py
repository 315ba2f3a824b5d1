"""Query/retrieve (``dmslab qr``): back-fill dose objects from a PACS with C-FIND and C-GET (or C-MOVE).

For each study found by a study-level C-FIND (date range, filters), a series-level C-FIND lists what the
PACS holds and :func:`classify_series` ranks each series as a dose source: RDSR > Enhanced SR > dose screen
(secondary capture) > images. Only the best kind is retrieved, object by object, minus the SOP Instance UIDs
the store already holds as ingested or duplicate. Retrieved objects are written durably to an
:class:`~dmslab.net.inbox.Inbox` and then ingested by :func:`dmslab.jobs.ingest_paths` (the path of
``dmslab ingest``), so a crash between retrieve and ingest loses nothing: the next run ingests what it finds
waiting in the inbox first.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from dmslab.config import Settings
from dmslab.net._qr_session import Peer, QrError, Session, move_listener, set_nodelay, text
from dmslab.net._qr_source import (
    _IMAGE_MODALITIES,
    DOSE_STORAGE_CLASSES,
    SeriesInfo,
    SourceKind,
    StudyPlan,
    classify_series,
    needs_instances,
    plan_study,
)
from dmslab.net.inbox import Inbox

__all__ = ["DOSE_STORAGE_CLASSES", "Peer", "QrError", "QrFilter", "QrOptions", "QrSummary", "SeriesInfo", "SourceKind",
           "StudyPlan", "classify_series", "parse_date", "plan_study", "run_qr", "set_nodelay"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class QrFilter:
    """Which studies to back-fill.

    Attributes
    ----------
    date_from, date_to
        Study Date range, inclusive (``None``: open).
    modalities
        Keep studies whose Modalities in Study include one of these. Studies holding only SR/OT/KO/PR series
        (no image series) are kept too: their modality is known only after ingest.
    station_names
        Station Name patterns (``fnmatch``, case-insensitive), matched at study level when the PACS returns
        the attribute there and at series level otherwise.
    include, exclude
        Study Description patterns (``fnmatch``, case-insensitive); exclude wins.
    chunk_days
        Length of the date windows of the study-level C-FIND (PACSs cap result sets), days.
    """

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    modalities: tuple[str, ...] = ()
    station_names: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    chunk_days: int = 7

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        if self.chunk_days < 1:
            raise ValueError(f"chunk_days must be >= 1, got {self.chunk_days}")

    def windows(self) -> Iterator[str]:
        """Study Date range matching strings, one per window (a single open range when a bound is missing)."""
        if self.date_from is None or self.date_to is None:
            lo = f"{self.date_from:%Y%m%d}" if self.date_from else ""
            hi = f"{self.date_to:%Y%m%d}" if self.date_to else ""
            yield f"{lo}-{hi}" if lo or hi else ""
            return
        start = self.date_from
        while start <= self.date_to:
            end = min(start + dt.timedelta(days=self.chunk_days - 1), self.date_to)
            yield f"{start:%Y%m%d}-{end:%Y%m%d}"
            start = end + dt.timedelta(days=1)

    def description_ok(self, description: str) -> bool:
        """Study Description passes include/exclude."""
        d = description.upper()
        if any(fnmatch.fnmatchcase(d, p.upper()) for p in self.exclude):
            return False
        return not self.include or any(fnmatch.fnmatchcase(d, p.upper()) for p in self.include)

    def station_ok(self, name: str) -> bool:
        """Station Name matches one of the patterns (always true without patterns)."""
        return not self.station_names or any(fnmatch.fnmatchcase(name.upper(), p.upper())
                                             for p in self.station_names)


@dataclass(slots=True)
class QrSummary:
    """What a ``dmslab qr`` run did."""

    queried: int = 0
    matched: int = 0
    retrieved_studies: int = 0
    retrieved: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_objects: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0

    def skip(self, reason: str) -> None:
        """Count a study skipped for ``reason``."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"{self.queried} studies found, {self.matched} matched the filters; "
               f"{self.retrieved} objects retrieved from {self.retrieved_studies} studies "
               f"({self.skipped_objects} objects already imported); {len(self.failed)} studies failed",
               f"ingest: {self.ingested} ingested, {self.duplicate} duplicate, {self.rejected} rejected"]
        out += [f"  source {k}: {n} studies" for k, n in sorted(self.sources.items())]
        out += [f"  skipped ({k}): {n} studies" for k, n in sorted(self.skipped.items())]
        out += [f"  failed {uid}: {why}" for uid, why in self.failed[:20]]
        return out


def known_sop_instance_uids(store_url: str) -> set[str]:
    """SOP Instance UIDs the store holds as ingested, duplicate or superseded (by a better dose source)."""
    from dmslab.store import Store, held_sop_instance_uids

    store = Store(store_url)
    try:
        return held_sop_instance_uids(store)
    finally:
        store.close()


def _find_studies(session: Session, qf: QrFilter) -> list[Dataset]:
    seen: dict[str, Dataset] = {}
    for window in qf.windows():
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        for kw in ("StudyInstanceUID", "StudyTime", "StudyDescription", "ModalitiesInStudy", "StationName",
                   "AccessionNumber"):
            setattr(q, kw, "")
        q.StudyDate = window
        for ds in session.find(q):
            seen.setdefault(text(ds, "StudyInstanceUID"), ds)
    return [seen[k] for k in sorted(seen) if k]


def _study_ok(ds: Dataset, qf: QrFilter) -> bool:
    if not qf.description_ok(text(ds, "StudyDescription")):
        return False
    mods = {m for m in text(ds, "ModalitiesInStudy").upper().split("\\") if m}
    if qf.modalities and mods & _IMAGE_MODALITIES and not mods & {m.upper() for m in qf.modalities}:
        return False
    return True


def _find_series(session: Session, study_uid: str) -> list[SeriesInfo]:
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid
    for kw in ("SeriesInstanceUID", "Modality", "SeriesDescription", "StationName", "SeriesNumber"):
        setattr(q, kw, "")
    out = [SeriesInfo(text(ds, "SeriesInstanceUID"), text(ds, "Modality").upper(), text(ds, "SeriesDescription"),
                      text(ds, "StationName")) for ds in session.find(q)]
    return [s for s in out if s.series_uid]


def _find_instances(session: Session, study_uid: str, series: SeriesInfo) -> None:
    q = Dataset()
    q.QueryRetrieveLevel = "IMAGE"
    q.StudyInstanceUID, q.SeriesInstanceUID = study_uid, series.series_uid
    q.SOPInstanceUID = q.SOPClassUID = q.InstanceNumber = ""
    for ds in session.find(q):
        uid = text(ds, "SOPInstanceUID")
        if uid:
            series.instances[uid] = text(ds, "SOPClassUID")


def _describe(session: Session, study: Dataset, qf: QrFilter) -> list[SeriesInfo] | None:
    """The study's series with the instances of the candidate series; ``None`` when filtered out by station."""
    study_uid = text(study, "StudyInstanceUID")
    series = _find_series(session, study_uid)
    if qf.station_names:
        names = [n for n in (text(study, "StationName"), *(s.station_name for s in series)) if n]
        if not any(qf.station_ok(n) for n in names):
            return None
    for s in series:
        if needs_instances(s):
            _find_instances(session, study_uid, s)
    best = max((classify_series(s) for s in series), default=SourceKind.NONE)
    if best is SourceKind.IMAGES:
        for s in series:
            if not s.instances and classify_series(s) is SourceKind.IMAGES:
                _find_instances(session, study_uid, s)
    return series


def _retrieve(session: Session, plan: StudyPlan, move_aet: str | None) -> tuple[int, str | None]:
    """Retrieve the plan's objects one by one; (sub-operations completed, failure reason or ``None``)."""
    failures, completed = [], 0
    for series_uid, sop_uid, _cls in plan.objects:
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID, q.SeriesInstanceUID, q.SOPInstanceUID = plan.study_uid, series_uid, sop_uid
        status, done, failed = session.retrieve(q, move_aet)
        completed += done
        if status != 0x0000 or failed:
            failures.append(f"{sop_uid}: status 0x{status & 0xFFFF:04X}, {failed} failed sub-operation(s)")
    return completed, "; ".join(failures) or None


def _ingest(paths: list[Path], inbox: Inbox, settings: Settings, summary: QrSummary) -> None:
    from dmslab.jobs import ingest_paths

    if not paths:
        return
    unique = list(dict.fromkeys(paths))  # a retried C-GET may have stored an object twice
    result = ingest_paths(unique, settings)
    summary.ingested += result.ingested
    summary.duplicate += result.duplicate
    summary.rejected += result.rejected
    for p in unique:
        inbox.done(p)
    paths.clear()


@dataclass(frozen=True, slots=True)
class QrOptions:
    """How ``dmslab qr`` retrieves.

    Attributes
    ----------
    inbox_dir
        Where retrieved objects are written before ingest (default ``<home>/qr-inbox``); anything left there
        by an interrupted run is ingested first.
    move_aet
        Retrieve with C-MOVE to this AE title instead of C-GET (e.g. a running ``dmslab receive``, which then
        ingests); the objects are received by that AE, not by this run, unless ``listen_port`` is given.
    listen_port
        With ``move_aet``: run a Storage SCP with that AE title on this port (all interfaces) during the run, so
        the moved objects come back here and are ingested (the PACS must know ``move_aet`` at this host/port).
    dry_run
        Query and plan only; retrieve nothing.
    """

    inbox_dir: str | Path | None = None
    move_aet: str | None = None
    listen_port: int | None = None
    dry_run: bool = False


def run_qr(peer: Peer, qf: QrFilter, settings: Settings, *, options: QrOptions | None = None,
           progress: Callable[[int, int], None] | None = None) -> QrSummary:
    """Back-fill the store from a PACS: query, pick the best dose source per study, retrieve it, ingest it.

    Parameters
    ----------
    peer
        The PACS.
    qf
        Which studies.
    settings
        The store and ingest settings.
    options
        How to retrieve (C-GET into ``<home>/qr-inbox`` by default).
    progress
        Called with (studies done, studies matched) after each study.

    Returns
    -------
    QrSummary
        Counts of studies and objects, skipped studies by reason, failures with reasons.

    Raises
    ------
    QrError
        When the PACS cannot be reached or a C-FIND fails.
    """
    opts = options or QrOptions()
    move_aet, listen_port = opts.move_aet, opts.listen_port
    inbox = Inbox(opts.inbox_dir or Path(settings.home) / "qr-inbox")
    received: list[Path] = inbox.pending()
    summary = QrSummary()
    _ingest(received, inbox, settings, summary)
    known = known_sop_instance_uids(settings.database_url)
    session = Session(peer, inbox, received)
    server = move_listener(session, move_aet, listen_port) if move_aet and listen_port else None
    try:
        studies = _find_studies(session, qf)
        summary.queried = len(studies)
        studies = [s for s in studies if _study_ok(s, qf)]
        for i, study in enumerate(studies, 1):
            _one_study(session, study, qf, known, summary, opts)
            if len(received) >= settings.batch_size:
                _ingest(received, inbox, settings, summary)
            if progress is not None:
                progress(i, len(studies))
    finally:
        session.close()
        if server is not None:
            server.shutdown()
    _ingest(received, inbox, settings, summary)
    for line in summary.lines():
        logger.info("qr: %s", line)
    return summary


def _one_study(session: Session, study: Dataset, qf: QrFilter, known: set[str], summary: QrSummary,
               opts: QrOptions) -> None:
    study_uid = text(study, "StudyInstanceUID")
    series = _describe(session, study, qf)
    if series is None:
        summary.skip("station name")
        return
    summary.matched += 1
    plan, already = plan_study(study_uid, series, known)
    summary.skipped_objects += already
    if plan.kind is SourceKind.NONE:
        summary.skip("no dose source")
        return
    if not plan.objects:
        summary.skip("already imported")
        return
    summary.sources[plan.kind.name.lower()] = summary.sources.get(plan.kind.name.lower(), 0) + 1
    if opts.dry_run:
        summary.skip("dry run")
        return
    got, reason = _retrieve(session, plan, opts.move_aet)
    summary.retrieved += got
    summary.retrieved_studies += 1 if got else 0
    if reason:
        summary.failed.append((study_uid, reason))
        logger.warning("qr %s: %s", study_uid, reason)
    else:
        logger.info("qr %s: %d %s object(s) retrieved", study_uid, got, plan.kind.name)


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` to a date (ValueError naming the format otherwise)."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {text!r}: use YYYY-MM-DD")
