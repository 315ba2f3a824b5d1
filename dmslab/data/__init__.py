"""Reference tables with provenance (see README.md in this folder)."""
