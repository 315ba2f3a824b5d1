"""``python -m dmslab.cli``: the ``dmslab`` command (the receiver starts its ingest worker this way)."""

from dmslab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
