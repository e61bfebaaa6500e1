"""IAM project lookup: GET /v3/projects?name=<region> (AK/SK-signed, no X-Project-Id)."""

import json
import uuid

from .common import DOMAIN_ID, decode_query


class IamApi:
    """Mixin for Handler; called by DcsApi.handle_dcs once the signature has been verified."""

    def handle_iam_projects(self, raw_query):
        emu, base = self.server.emu, self.server.base_url()
        trace = {"X-IAM-Trace-Id": uuid.uuid4().hex}
        if self.command != "GET":
            body = {"error": {"code": 405, "title": "Method Not Allowed",
                              "message": "The method is not allowed for the requested URL."}}
            return self.send(405, json.dumps(body).encode("utf-8"), "application/json",
                             dict(trace, Allow="GET"))
        name = decode_query(raw_query).get("name")      # absent: every project
        with emu.lock:
            items = list(emu.project_names.items())
        projects = [{"id": pid, "name": pname, "domain_id": DOMAIN_ID, "enabled": True,
                     "description": "", "is_domain": False, "parent_id": DOMAIN_ID,
                     "links": {"self": "%s/v3/projects/%s" % (base, pid)}}
                    for pid, pname in items if name is None or pname == name]
        body = {"projects": projects, "links": {
            "self": base + "/v3/projects" + ("?" + raw_query if raw_query else ""),
            "previous": None, "next": None}}
        self.send(200, json.dumps(body).encode("utf-8"), "application/json", trace)
