"""``python -m chunkwise``: the ``chunkwise`` command (replay, serve, record), where the console
script is not on the PATH (a venv not activated, ``pipx run``-less environments)."""

import sys

from ._cli import main

sys.exit(main())
