"""The lua-dcs local DCS emulator, as a package; tools/dcs-emulator is its launcher.

Modules: cli (arguments, main), common (constants, errors), signing (SDK-HMAC-SHA256
verification, --self-test), state (projects, instances, log files, credentials),
dcs_api (/v2/ run-log APIs), iam (/v3/projects), metadata (ECS metadata service),
obs (pre-signed downloads), admin (/_emulator/), faults, server (handler, dispatch).
"""

from .cli import main

__all__ = ["main"]
