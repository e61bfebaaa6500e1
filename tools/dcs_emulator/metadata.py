"""ECS metadata service: session token (PUT) and temporary credentials (securitykey).

No AK/SK signing. config["metadata_token"]: "required" (default) needs a valid
X-Metadata-Token on securitykey; "optional" also serves requests without one (an
invalid one is still refused); "unsupported" answers the token PUT with 404 and
ignores X-Metadata-Token. config["metadata_agency"] = false: securitykey gives 404.
"""

TOKEN_PATH = "/meta-data/latest/api/token"
SECURITYKEY_PATH = "/openstack/latest/securitykey"
METADATA_PATHS = (TOKEN_PATH, SECURITYKEY_PATH)
MAX_TOKEN_TTL = 21600


class Metadata:
    """Mixin for Handler: the two metadata paths (faults and recording apply as usual)."""

    def send_text(self, status, text, headers=None):
        self.send(status, text.encode("utf-8"), "text/plain", headers)

    def handle_metadata(self, raw_path):
        emu = self.server.emu
        with emu.lock:
            mode, agency = emu.config["metadata_token"], emu.config["metadata_agency"]
        if raw_path == TOKEN_PATH:
            if mode == "unsupported":
                return self.send_text(404, "Not Found")
            if self.command != "PUT":
                return self.send_text(405, "Method Not Allowed", {"Allow": "PUT"})
            raw = (self.headers.get("X-Metadata-Token-Ttl-Seconds") or "").strip()
            ttl = int(raw) if raw.isdigit() else 0
            if not 1 <= ttl <= MAX_TOKEN_TTL:
                return self.send_text(400, "Bad Request: X-Metadata-Token-Ttl-Seconds must be "
                                      "an integer between 1 and %d" % MAX_TOKEN_TTL)
            token = emu.issue_metadata_token(ttl)
            return self.send_text(200, token, {"X-Metadata-Token-Ttl-Seconds": ttl})
        if self.command != "GET":
            return self.send_text(405, "Method Not Allowed", {"Allow": "GET"})
        token = self.headers.get("X-Metadata-Token")
        if mode == "required" or (mode == "optional" and token is not None):
            if token is None or not emu.metadata_token_valid(token.strip()):
                return self.send_text(401, "Unauthorized: invalid or expired metadata token")
        if not agency:
            return self.send_json(404, {"error": "Please configure Cloud Service Agency first"})
        self.send_json(200, {"credential": emu.issue_temp_credentials()})
