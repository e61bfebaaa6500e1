"""`python3 -m hostile_server` (with tools/ on sys.path) is the same as tools/hostile-server."""

import sys

from . import main

sys.exit(main())
