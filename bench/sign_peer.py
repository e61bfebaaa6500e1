#!/usr/bin/env python3
"""The peer for bench/sign.lua: the same SDK-HMAC-SHA256 signature computed
with Python's hmac and hashlib, by the emulator's independent signer
(tools/dcs_emulator/signing.py), for the same request, N times.
Prints: <signatures per CPU second> <authorization>"""
import os
import sys
import time
from urllib.parse import quote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from dcs_emulator.signing import (_wire_query, canonical_request,  # noqa: E402
                                  compute_signature, payload_hash)


def sign(v):
    url = urlsplit(v["url"])
    heads = {k.lower(): str(val) for k, val in v["headers"].items()}
    heads.setdefault("host", url.netloc)
    signed = sorted(n for n in heads if "_" not in n)
    raw_path = quote(url.path, safe="/:@!$&'()*+,;=~").encode("ascii")
    creq = canonical_request(v["method"].upper(), raw_path, _wire_query(v["query"]), signed,
                             lambda n: heads[n].encode("utf-8"),
                             payload_hash(None, v["body"].encode("utf-8")))
    return "SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s" % (
        v["ak"], ";".join(signed), compute_signature(v["sk"], heads["x-sdk-date"], creq))


def main():
    n = int(sys.argv[1])
    v = {
        "method": "GET",
        "url": "https://dcs.cn-north-4.myhuaweicloud.com/v2/0123456789abcdef0123456789abcdef"
               "/instances/5560df16-cebf-4473-95c4-d1b573c16e79/redislog",
        "query": {"log_type": "run", "offset": 0, "limit": 10},
        "headers": {"X-Project-Id": "0123456789abcdef0123456789abcdef",
                    "X-Sdk-Date": "20210416T120000Z", "content-type": "application/json"},
        "body": "{}", "ak": "EXAMPLEAK0000000000A", "sk": "exampleSK00000000000000000000000000000000",
    }
    auth = sign(v)
    start = time.process_time()
    for _ in range(n):
        sign(v)
    print("%.0f %s" % (n / (time.process_time() - start), auth))


main()
