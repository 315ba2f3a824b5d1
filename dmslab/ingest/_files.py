"""From paths on disk to parse outcomes: read once, hash, classify, parse — in worker processes."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from dmslab.config import DEFAULT_NOT_PATIENT_PATTERNS
from dmslab.errors import DmslabError, IngestError
from dmslab.ingest._exclusion import with_exclusion
from dmslab.ingest._registry import find_importer
from dmslab.ingest._structure import truncation
from dmslab.ingest.rdsr._fastread import read_sr
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, SourceRecord

__all__ = ["Outcome", "iter_files", "parse_file", "parse_many", "quarantine"]

logger = logging.getLogger(__name__)

#: SR storage SOP classes start with this UID prefix; the file meta names it within the first bytes.
_SR_CLASS_PREFIX = b"1.2.840.10008.5.1.4.1.1.88."

#: File names ingest passes over without reading (reported as skipped, never silently).
SKIP_SUFFIXES = frozenset({".json", ".txt", ".md", ".csv", ".xml", ".html", ".pdf", ".log", ".toml", ".yml", ".yaml"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one file: a report, or an error with a stable reason (never both)."""

    path: str
    sha256: str | None
    report: DoseReport | None = None
    reason: str | None = None
    detail: str | None = None
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    study_uid: str | None = None
    parse_s: float = 0.0


def _raise(exc: OSError) -> None:
    raise exc


def _walk(top: Path, onerror: Callable[[OSError], None]) -> list[Path]:
    """The files under ``top`` (sorted); a folder that cannot be listed goes to ``onerror``."""
    found: list[Path] = []
    for root, _dirs, names in os.walk(top, onerror=onerror):
        found.extend(Path(root) / n for n in names if (Path(root) / n).is_file())
    return sorted(found)


def iter_files(paths: Iterable[str | os.PathLike[str]], *,
               onerror: Callable[[OSError], None] | None = None) -> Iterator[tuple[Path, bool]]:
    """Every file under ``paths`` (recursive, sorted), with ``True`` when it is to be skipped by name.

    A folder that cannot be listed (no read or execute permission) is never passed over silently: its
    :class:`OSError` (``filename`` = the folder) is raised, or given to ``onerror`` and the walk goes on.
    """
    report = onerror or _raise
    for p in map(Path, paths):
        if p.is_dir():
            for sub in _walk(p, report):
                rel_hidden = any(part.startswith(".") for part in sub.relative_to(p).parts)
                yield sub, rel_hidden or sub.suffix.lower() in SKIP_SUFFIXES
        elif p.is_file():
            yield p, False
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")


def _read(path: Path) -> tuple[pydicom.Dataset, str]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if _SR_CLASS_PREFIX in data[128:512]:
        lean = read_sr(data)  # None: not handled by the lean reader, pydicom reads it below
        if lean is not None:  # its one walk checked the structure and decoded what can fail: no second pass
            return lean, digest
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise _WithHash(IngestError("not_dicom", f"not a DICOM file ({exc})"), digest) from exc
    except Exception as exc:  # truncated or corrupt encodings raise many kinds of errors in pydicom
        raise _WithHash(IngestError("corrupt", f"DICOM file cannot be decoded: {type(exc).__name__}: {exc}"),
                        digest) from exc
    problem = truncation(data, _transfer_syntax(ds))
    if problem:
        raise _WithHash(IngestError("corrupt", f"truncated or damaged DICOM file: {problem}"), digest)
    return _decoded(ds, digest), digest


def _transfer_syntax(ds: pydicom.Dataset) -> str | None:
    """The file's transfer syntax UID (implicit VR when there is no file meta); ``None`` when the element is
    damaged (the structure check then does not apply, and decoding rejects the file)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return "1.2.840.10008.1.2"
    try:
        return str(meta.get("TransferSyntaxUID", ""))
    except Exception:  # pydicom's conversion of a damaged value: NotImplementedError, BytesLengthException ...
        return None


def _decoded(ds: pydicom.Dataset, digest: str) -> pydicom.Dataset:
    """Decode every element now: pydicom converts lazily, so a damaged VR or value would otherwise
    raise on first access inside a parser instead of being rejected here as ``corrupt``."""
    try:
        for _elem in ds.iterall():
            pass
        for _elem in getattr(ds, "file_meta", None) or ():
            pass
    except Exception as exc:  # pydicom raises NotImplementedError (unknown VR), OSError, ValueError, ...
        raise _WithHash(IngestError("corrupt", f"DICOM element cannot be decoded: {type(exc).__name__}: {exc}"),
                        digest) from exc
    return ds


class _WithHash(DmslabError):
    def __init__(self, error: IngestError, digest: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.digest = digest


def parse_file(path: str | os.PathLike[str], pseudonymise: Pseudonymiser, *,
               not_patient_patterns: Sequence[str] = DEFAULT_NOT_PATIENT_PATTERNS) -> Outcome:
    """Read and parse one file; every failure becomes an :class:`Outcome` with a reason.

    ``not_patient_patterns`` (the setting of that name) mark phantom and QA studies: see
    :func:`dmslab.ingest._exclusion.exclusion_reason`.
    """
    p = Path(path)
    t0 = time.perf_counter()
    try:
        ds, digest = _read(p)
    except _WithHash as w:
        return Outcome(str(p), w.digest, reason=w.error.reason, detail=w.error.detail)
    except OSError as exc:  # no read permission, an I/O error, gone since it was listed: the file stays where it is
        return Outcome(str(p), None, reason="unreadable",
                       detail=f"cannot read the file ({exc.strerror or exc}); it is left where it is: give the dmslab "
                              "user read permission and ingest it again")
    except Exception as exc:  # a reader bug on one odd file must not stop a folder ingest (the fuzz targets hunt these)
        logger.exception("unexpected error reading %s", p)
        return Outcome(str(p), _digest_of(p), reason="corrupt", detail=f"unexpected {type(exc).__name__}: {exc}")
    ids: dict[str, Any] = {"sop_instance_uid": _uid(ds, "SOPInstanceUID"), "sop_class_uid": _uid(ds, "SOPClassUID"),
                           "study_uid": _uid(ds, "StudyInstanceUID")}
    try:
        source = SourceRecord(sha256=digest, path=str(p), **ids)
        report = find_importer(ds).ingest(ds, pseudonymise=pseudonymise, source=source)
        report = with_exclusion(report, ds, not_patient_patterns)
    except IngestError as exc:
        return Outcome(str(p), digest, reason=exc.reason, detail=exc.detail, **ids)
    except Exception as exc:  # a parser bug on one odd file must not stop a folder ingest
        logger.exception("unexpected error parsing %s", p)
        return Outcome(str(p), digest, reason="corrupt", detail=f"unexpected {type(exc).__name__}: {exc}", **ids)
    return Outcome(str(p), digest, report=report, parse_s=time.perf_counter() - t0, **ids)


def _uid(ds: pydicom.Dataset, keyword: str) -> str | None:
    """A UID of the header as text (``None`` when absent, empty or not text: a damaged element)."""
    value = ds.get(keyword)
    return (value.strip("\x00 ") or None) if isinstance(value, str) else None


def _digest_of(p: Path) -> str | None:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return None


_WORKER_PSEUDO: Pseudonymiser | None = None
_WORKER_PATTERNS: tuple[str, ...] = DEFAULT_NOT_PATIENT_PATTERNS


def _init_worker(key: bytes, patterns: tuple[str, ...] = DEFAULT_NOT_PATIENT_PATTERNS) -> None:
    global _WORKER_PSEUDO, _WORKER_PATTERNS
    _WORKER_PSEUDO = Pseudonymiser(key)
    _WORKER_PATTERNS = patterns


def _parse_in_worker(path: str) -> Outcome:
    assert _WORKER_PSEUDO is not None
    return parse_file(path, _WORKER_PSEUDO, not_patient_patterns=_WORKER_PATTERNS)


def parse_many(paths: list[str], key: bytes, *, workers: int = 1, chunksize: int = 16,
               not_patient_patterns: Sequence[str] = DEFAULT_NOT_PATIENT_PATTERNS) -> Iterator[Outcome]:
    """Parse ``paths`` in order, in ``workers`` processes (1 = in this process)."""
    patterns = tuple(not_patient_patterns)
    if workers <= 1 or len(paths) < 2 * chunksize:
        pseudo = Pseudonymiser(key)
        for p in paths:
            yield parse_file(p, pseudo, not_patient_patterns=patterns)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(key, patterns)) as pool:
        yield from pool.map(_parse_in_worker, paths, chunksize=chunksize)


def _private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents readable by the owner only (0700); tighten it if it exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _private_copy(src: Path, dest: Path) -> None:
    """Copy ``src`` to a new file ``dest`` created 0600 (never the source's mode), keeping its times."""
    with open(src, "rb") as fin:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    st = src.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))


def _private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def quarantine(outcome: Outcome, folder: str | os.PathLike[str]) -> str:
    """Copy a rejected file to ``folder/<reason>/`` with a ``.reason.txt`` beside it; return the copy's path.

    Folders are created 0700 and files 0600 (they hold patient data). A file that cannot be read
    (reason ``unreadable``, or a copy that fails) is left where it is: only the ``.reason.txt`` is written, and
    the original's path is returned.
    """
    src = Path(outcome.path)
    dest_dir = Path(folder) / (outcome.reason or "unknown")
    _private_dir(dest_dir)
    prefix = (outcome.sha256 or hashlib.sha256(str(src).encode("utf-8")).hexdigest())[:12]
    dest = dest_dir / f"{prefix}_{src.name}"
    kept = dest
    if outcome.reason == "unreadable":
        kept = src
    elif src.exists() and not dest.exists():
        try:
            _private_copy(src, dest)
        except OSError as exc:  # e.g. lost its read permission since it was parsed: keep it where it is
            logger.warning("cannot copy %s to the quarantine (%s); it is left where it is", src, exc)
            kept = src
    _private_text(dest.with_name(dest.name + ".reason.txt"),
                  f"file: {src}\nkept: {kept}\nreason: {outcome.reason}\ndetail: {outcome.detail}\n"
                  f"sha256: {outcome.sha256}\n")
    return str(kept)
