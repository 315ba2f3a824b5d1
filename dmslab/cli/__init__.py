"""The ``dmslab`` command line: one module per command group, one table of commands.

========================  ===========================================================
module                    commands
========================  ===========================================================
``_site``                 ``init``, ``migrate``, ``ingest``, ``correct``, ``selftest``
``_analysis``             ``audit``, ``names``, ``drl``
``_alerts``               ``alerts``
``_derive``               ``derive``
``_demo``                 ``synth``, ``demo``
``_receive``              ``receive``, ``status``
``_qr``                   ``qr``
``_mpps``                 ``mpps``
``_pipelines``            ``pipelines``
``_skin``                 ``skin``
``_export``               ``export``
``_app``                  the parser, :func:`main`, exit codes and error report
========================  ===========================================================

Importing this package is cheap (``dmslab --version`` and ``--help`` load no pandas, SQLAlchemy, pydicom or
pynetdicom; ``bench/bench_cli.py`` measures it): only the parser of the command that runs is built, and each
command imports what it needs when it runs. The CLI is the top layer: it may import every package, no package
imports it, and only it prints.
"""

from __future__ import annotations

from dmslab.cli._app import COMMANDS, EXIT_BUG, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, build_parser, main
from dmslab.cli._common import EXIT_LOCKED

__all__ = ["COMMANDS", "EXIT_BUG", "EXIT_ERROR", "EXIT_INCOMPLETE", "EXIT_LOCKED", "EXIT_OK", "build_parser", "main"]
