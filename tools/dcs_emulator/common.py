"""Constants, error types and small helpers shared by every module of the emulator."""

import re
from urllib.parse import unquote_to_bytes

DEFAULT_AK = "EXAMPLEAK0000000000A"
DEFAULT_SK = "exampleSK00000000000000000000000000000000"
DEFAULT_PROJECT = "0123456789abcdef0123456789abcdef"
DEFAULT_PROJECT_NAME = "cn-north-4"
DOMAIN_ID = "d0000000000000000000000000000001"
SEED_LOG_IDS = ["3ea6ce21-048e-447a-83c3-3fb004b88439",   # today (newest)
                "3ea6ce21-048e-447a-83c3-3fb004b88440",   # yesterday
                "3ea6ce21-048e-447a-83c3-3fb004b88441"]   # the day before
DEFAULT_LOG_SIZE = 96 * 1024
CHUNK = 16 * 1024             # body write size, so injected mid-body drops are real
MAX_BODY = 64 * 1024 * 1024   # refuse absurd uploads instead of exhausting memory
MAX_RECORDED = 10000          # cap on the /_emulator/requests history
MAX_TEMP_CREDS = 10000        # cap on remembered metadata tokens / temporary credentials
DATE_FMT = "%Y%m%dT%H%M%SZ"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
AUTH_RE = re.compile(r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*"
                     r"Signature=([0-9A-Fa-f]+)\s*$")
IAM = "Incorrect IAM authentication information: "
NO_API = "The API does not exist or has not been published in the environment."
TOKEN_MODES = ("required", "optional", "unsupported")


class DcsError(Exception):
    def __init__(self, status, code, msg, gateway=False):
        super().__init__(msg)
        self.status, self.code, self.msg, self.gateway = status, code, msg, gateway


class AdminError(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status, self.msg = status, msg


def decode_query(raw_query):
    """First value per key, percent-decoded like the signer does ('+' stays '+')."""
    out = {}
    for piece in raw_query.encode("latin-1").split(b"&"):
        if piece:
            k, _, v = piece.partition(b"=")
            out.setdefault(unquote_to_bytes(k).decode("utf-8", "replace"),
                           unquote_to_bytes(v).decode("utf-8", "replace"))
    return out
