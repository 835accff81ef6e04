"""``python -m leakdb.tool``: the same as the ``leakdb`` command."""

import sys

from .cli import main

sys.exit(main())
