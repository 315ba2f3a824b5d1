"""Reporting: scheduled notebook runs (papermill), HTML reports, e-mail."""
