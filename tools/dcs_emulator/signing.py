"""SDK-HMAC-SHA256 verification (APIGW-style), shared by the server and --self-test."""

import hashlib
import hmac
import json
import sys
import time
from datetime import datetime, timezone
from urllib.parse import quote, unquote_to_bytes, urlsplit

from .common import AUTH_RE, DATE_FMT, IAM


def _enc(raw):
    # Unreserved set only (A-Za-z0-9-_.~), as every official core does.
    return quote(raw, safe="~")


def canonical_uri(raw_path):
    """raw_path: bytes as on the wire. Decode, re-encode per segment, force a trailing '/'."""
    uri = "/".join(_enc(seg) for seg in unquote_to_bytes(raw_path).split(b"/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query):
    """raw_query: bytes. '+' stays a literal plus (unquote, not unquote_plus); byte-wise sort."""
    pairs = []
    for piece in raw_query.split(b"&"):
        if piece:
            k, _, v = piece.partition(b"=")
            pairs.append((unquote_to_bytes(k), unquote_to_bytes(v)))
    return "&".join(_enc(k) + "=" + _enc(v) for k, v in sorted(pairs))


def canonical_request(method, raw_path, raw_query, signed, header_bytes, payload_hash):
    """Bytes of the canonical request; header_bytes(name) gives a signed header's raw value."""
    heads = b"".join(n.encode("ascii") + b":" + header_bytes(n).strip() + b"\n" for n in signed)
    return b"\n".join([method.encode("ascii"), canonical_uri(raw_path).encode("ascii"),
                       canonical_query(raw_query).encode("ascii"), heads,
                       ";".join(signed).encode("ascii"), payload_hash.encode("latin-1")])


def compute_signature(sk, sdk_date, creq):
    sts = "SDK-HMAC-SHA256\n%s\n%s" % (sdk_date, hashlib.sha256(creq).hexdigest())
    return hmac.new(sk.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


def payload_hash(content_sha_header, body):
    # X-Sdk-Content-Sha256 (e.g. UNSIGNED-PAYLOAD) wins over hashing the body.
    return content_sha_header if content_sha_header is not None else hashlib.sha256(body).hexdigest()


class AuthMixin:
    """APIGW-style checks; mixed into Emulator (uses its lock, creds, temp_creds, config,
    auth_fail)."""

    def verify(self, method, raw_path, raw_query, headers, body):
        """Returns None when the request is authentic, else the APIGW.0301 error_msg."""
        m = AUTH_RE.match((headers.get("Authorization") or "").strip())
        if not m:
            return IAM + "Authorization header is missing or malformed"
        ak, signed_s, sig = m.group(1), m.group(2), m.group(3).lower()
        signed = signed_s.lower().split(";")
        now = time.time()
        with self.lock:
            sk, temp = self.creds.get(ak), None
            if sk is None:
                temp = self.temp_creds.get(ak)     # issued by the metadata service
                sk = temp and temp["sk"]
            if sk is None:
                return IAM + "Get secretKey failed,ak:%s,err:ak not exist" % ak
            if self.auth_fail.get(ak, [0, 0.0])[1] > now:
                return IAM + "AK access failed to reach the limit,forbidden"
            server_now = now + self.config["clock_skew"]
            server_time = datetime.fromtimestamp(server_now, timezone.utc)
        if temp is not None:
            if server_now >= temp["expires"]:
                return IAM + "the temporary credentials have expired"
            token = headers.get("X-Security-Token")
            if (token is None or "x-security-token" not in signed
                    or not hmac.compare_digest(token.strip().encode("latin-1"),
                                               temp["token"].encode("latin-1"))):
                return IAM + "the security token is missing or does not match"
        sdk_date = (headers.get("X-Sdk-Date") or "").strip()
        try:
            sig_time = datetime.strptime(sdk_date, DATE_FMT).replace(tzinfo=timezone.utc)
            expired = abs((server_time - sig_time).total_seconds()) > 15 * 60
        except ValueError:
            expired = True
        if expired:
            return IAM + "calc aksk signature fail:signature expired, signature time:%s,server time:%s" % (
                sdk_date, server_time.strftime(DATE_FMT))
        if "host" not in signed or "x-sdk-date" not in signed:
            return self._auth_failed(ak, IAM + "verify aksk signature fail, "
                                     "SignedHeaders must include host and x-sdk-date")
        creq = canonical_request(method, raw_path, raw_query, signed,
                                 lambda n: str(headers.get(n) or "").encode("latin-1"),
                                 payload_hash(headers.get("X-Sdk-Content-Sha256"), body))
        if not hmac.compare_digest(compute_signature(sk, sdk_date, creq), sig):
            return self._auth_failed(ak, IAM + "verify aksk signature fail, canonicalRequest:" +
                                     creq.decode("utf-8", "replace").replace("\n", "|"))
        with self.lock:
            self.auth_fail.pop(ak, None)          # a success resets the failure streak
        return None

    def _auth_failed(self, ak, msg):
        # Like APIGW: more than 5 consecutive failures lock the AK for 5 minutes.
        with self.lock:
            fails = self.auth_fail.setdefault(ak, [0, 0.0])
            fails[0] += 1
            if fails[0] > 5:
                self.auth_fail[ak] = [0, time.time() + 300]
        return msg


# ----------------------------------------------------------------------------
# --self-test: recompute the vectors' Authorization headers with this verifier
# ----------------------------------------------------------------------------

def _vector_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _wire_query(query):
    # Encode like Node's querystring (leaves !'()* raw) so the server-side
    # re-canonicalisation is exercised, rather than fed its own output.
    return "&".join(quote(str(k), safe="!'()*") + "=" + quote(_vector_value(x), safe="!'()*")
                    for k, v in query.items()
                    for x in (v if isinstance(v, list) else [v])).encode("ascii")


def self_test(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    failed = 0
    for v in data.get("vectors", []):
        url = urlsplit(v["url"])
        heads = {k.lower(): str(val) for k, val in v["headers"].items()}
        heads.setdefault("host", url.netloc)
        signed = sorted(n for n in heads if "_" not in n)   # the SDKs never sign '_' names
        raw_path = quote(url.path, safe="/:@!$&'()*+,;=~").encode("ascii")
        creq = canonical_request(v["method"].upper(), raw_path, _wire_query(v.get("query") or {}),
                                 signed, lambda n: heads[n].encode("utf-8"),
                                 payload_hash(heads.get("x-sdk-content-sha256"),
                                              v.get("body", "").encode("utf-8")))
        got = "SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s" % (
            v["ak"], ";".join(signed), compute_signature(v["sk"], heads["x-sdk-date"], creq))
        ok = got == v["expect_authorization"]
        failed += not ok
        print(("ok " if ok else "not ok ") + v["name"])
        if not ok:
            print("#   expected %s\n#   got      %s" % (v["expect_authorization"], got))
    for v in data.get("canonical_query_vectors", []):
        ok = canonical_query(_wire_query(v["query"])) == v["expect_canonical_query"]
        failed += not ok
        print(("ok " if ok else "not ok ") + v["name"])
    sys.stdout.flush()
    return 1 if failed else 0
