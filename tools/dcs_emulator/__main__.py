"""`python3 -m dcs_emulator` (with tools/ on sys.path) is the same as tools/dcs-emulator."""

import sys

from . import main

sys.exit(main())
