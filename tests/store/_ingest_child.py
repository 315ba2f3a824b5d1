"""One ``ingest`` process of the concurrent-writer tests: waits for the start signal, ingests, reports as JSON.

Usage: ``python _ingest_child.py HOME DATABASE_URL FOLDER GO_FILE OUT_JSON BATCH_SIZE``. A crash writes the
exception to OUT_JSON and exits non-zero.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from dmslab.config import load_settings
from dmslab.jobs import ingest_paths


def main(home: str, url: str, folder: str, go: str, out: str, batch_size: str) -> int:
    settings = load_settings(home=home, database_url=url, workers=1, batch_size=int(batch_size))
    Path(out + ".ready").touch()
    deadline = time.monotonic() + 120  # liveness guard only: the parent creates GO_FILE once all are ready
    while not Path(go).exists():
        if time.monotonic() > deadline:
            Path(out).write_text(json.dumps({"error": "no start signal"}))
            return 2
        time.sleep(0.01)
    try:
        s = ingest_paths([folder], settings)
    except Exception as exc:
        Path(out).write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        raise
    Path(out).write_text(json.dumps({"ingested": s.ingested, "duplicate": s.duplicate, "rejected": s.rejected,
                                     "superseded": s.superseded, "reasons": s.reasons,
                                     "rejected_files": s.rejected_files, "lock_wait_s": s.lock_wait_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
