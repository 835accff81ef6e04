"""``python -m leakdb.server``: the same as the ``leakdb-server`` command."""

import sys

from .cli import server_main

sys.exit(server_main())
