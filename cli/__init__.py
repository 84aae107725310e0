"""The ``chronos`` command line (``cli.main:app``)."""
