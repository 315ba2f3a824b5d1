"""Run a private Orthanc server on loopback for the query/retrieve tests (and benches).

The Debian package ``orthanc`` installs ``/usr/sbin/Orthanc``. :class:`OrthancServer` writes its own JSON
configuration in a temporary folder (storage there too, no plugins, no remote access, free DICOM and HTTP
ports on 127.0.0.1), starts the process, waits for the REST API and stops it again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ORTHANC", "OrthancServer", "free_port"]

ORTHANC = os.environ.get("DMSLAB_ORTHANC", shutil.which("Orthanc") or "/usr/sbin/Orthanc")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OrthancServer:
    """A throw-away Orthanc.

    Parameters
    ----------
    folder
        Where the configuration, the storage and the log go.
    aet
        Orthanc's own AE title.
    modalities
        Remote AEs Orthanc knows (needed as C-MOVE destinations): ``{name: (aet, host, port)}``.
    """

    def __init__(self, folder: Path, *, aet: str = "ORTHANC",
                 modalities: dict[str, tuple[str, str, int]] | None = None) -> None:
        self.folder = Path(folder)
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.modalities = modalities or {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    def config(self) -> dict[str, Any]:
        """The JSON configuration Orthanc runs with."""
        return {
            "Name": "dmslab-test", "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"), "StorageCompression": False, "Plugins": [],
            "HttpServerEnabled": True, "HttpPort": self.http_port, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomServerEnabled": True, "DicomAet": self.aet,
            "DicomPort": self.dicom_port, "DicomCheckCalledAet": False,
            "DicomModalities": {k: list(v) for k, v in self.modalities.items()},
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True, "DicomScpTimeout": 30,
            "SaveJobs": False, "LimitFindResults": 0, "LimitFindInstances": 0, "StableAge": 1,
        }

    def start(self, timeout: float = 30.0) -> OrthancServer:
        """Start Orthanc and wait until its REST API answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=1))
        log = open(self.folder / "orthanc.log", "wb")
        env = {**os.environ, "TCP_NODELAY": "1"}  # dcmtk inside Orthanc: no Nagle delay per DIMSE round trip
        self._proc = subprocess.Popen([ORTHANC, str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                      cwd=self.folder, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self._proc.returncode}: "
                                   f"{(self.folder / 'orthanc.log').read_text(errors='replace')[-2000:]}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def get(self, path: str) -> Any:
        """GET a REST resource and decode its JSON."""
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def upload(self, data: bytes) -> dict[str, Any]:
        """Store one DICOM object through ``POST /instances``."""
        req = urllib.request.Request(self.url + "/instances", data=data, method="POST",
                                     headers={"Content-Type": "application/dicom"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            out: dict[str, Any] = json.loads(resp.read())
        if out.get("Status") not in ("Success", "AlreadyStored"):
            raise RuntimeError(f"Orthanc refused an instance: {out}")
        return out

    def upload_files(self, paths: list[Path]) -> int:
        """Upload files; return how many."""
        for p in paths:
            self.upload(Path(p).read_bytes())
        return len(paths)
