"""OBS-like pre-signed downloads of the log files: GET/HEAD /_obs/<token>/<name>?..."""

import base64
import email.utils
import hashlib
import hmac
import re
import time
from urllib.parse import unquote

from .common import decode_query


def link_signature(emu, token, expires):
    mac = hmac.new(emu.link_key, ("%s\n%s" % (token, expires)).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class Download:
    """Mixin for Handler: GET/HEAD /_obs/<token>/<name>?...; no AK/SK (Authorization ignored)."""

    def handle_obs(self, raw_path, raw_query):
        emu = self.server.emu

        def xml_error(status, code, message, headers=None):
            body = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s'
                    '</Message><RequestId>%s</RequestId></Error>' % (code, message, self.request_id))
            self.send(status, body.encode("utf-8"), "application/xml", headers)

        if self.command not in ("GET", "HEAD"):
            return xml_error(405, "MethodNotAllowed", "The specified method is not allowed "
                             "against this resource.", {"Allow": "GET, HEAD"})
        parts, q = raw_path[len("/_obs/"):].split("/", 1), decode_query(raw_query)
        token, expires = parts[0], q.get("Expires", "")
        if not (expires.lstrip("-").isdigit() and hmac.compare_digest(
                link_signature(emu, token, expires), q.get("Signature", ""))):
            return xml_error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                             "does not match the signature you provided.")
        if int(expires) < time.time():
            return xml_error(403, "AccessDenied", "Request has expired")
        with emu.lock:
            f = emu.tokens.get(token)
        if f is None or len(parts) != 2 or unquote(parts[1]) != f.file_name:
            return xml_error(404, "NoSuchKey", "The specified key does not exist.")
        data, md5, _ = f.content()
        total = len(data)
        headers = {"Content-Type": "text/plain", "ETag": '"%s"' % md5, "Accept-Ranges": "bytes",
                   "Last-Modified": email.utils.formatdate(f.created, usegmt=True)}
        m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", self.headers.get("Range") or "")
        if m and (m.group(1) or m.group(2)):         # other Range forms are ignored (RFC 7233)
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
            else:                                    # suffix form: the last N bytes
                start, end = total - min(int(m.group(2)), total), total - 1
                start = total if int(m.group(2)) == 0 else start
            if start >= total:
                return xml_error(416, "InvalidRange", "The requested range cannot be satisfied.",
                                 {"Content-Range": "bytes */%d" % total})
            if start <= end:                         # an inverted range is ignored
                headers.update({"Content-Range": "bytes %d-%d/%d" % (start, end, total),
                                "Content-Length": end - start + 1})
                return self.send(206, data[start:end + 1], None, headers)
        headers["Content-Length"] = total           # explicit, so HEAD reports the real size
        self.send(200, data, None, headers)
