"""The ``headwater`` command: read, inspect and query data sources from a shell.

Built on click (:mod:`headwater.cli.main`); the top floor of the house: it drives the Spark facade
(:mod:`headwater.sql`) as a user's script would, and adds nothing the Python API lacks.
"""

from headwater.cli.main import main

__all__ = ["main"]
