"""A small client for `charter serve`, with the standard library only (Python 3.8+).

    charter serve policies --facts examples/requests/facts.json &
    python3 examples/clients/python/charter_client.py

The client keeps one connection open (HTTP/1.1 keep-alive) and fails closed: anything
but an answered "allow" is treated as a deny by `allowed()`.
"""

import http.client
import json
import os
import sys
import urllib.parse


class CharterError(Exception):
    """An error answer: `status`, `code` (`invalid_request` …), `field` at fault."""

    def __init__(self, status, body):
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = err.get("code")
        self.field = err.get("field")
        super().__init__(f"{status} {self.code}: {err.get('message')} (field: {self.field})")


class Charter:
    def __init__(self, url="http://127.0.0.1:8877", token=None, timeout=5.0):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.token = token
        self.timeout = timeout
        self.conn = None

    def _call(self, method, path, body=None, admin=False):
        headers = {"Content-Type": "application/json"}
        if admin and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closes a connection after refusing a body it did not read;
                # one retry on a fresh connection.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        text = raw.decode()
        parsed = json.loads(text) if text and resp.getheader("Content-Type", "").startswith("application/json") else text
        # 503 on /v1/decide is still a decision: a deny saying the log cannot be written.
        if resp.status >= 400 and not (resp.status == 503 and isinstance(parsed, dict) and "decision" in parsed):
            raise CharterError(resp.status, parsed)
        return parsed

    def decide(self, request):
        """The decision for one request (a dict in the format of docs/runtime.md)."""
        return self._call("POST", "/v1/decide", request)

    def allowed(self, request):
        """True only for an answered allow: errors, timeouts and denies are all False."""
        try:
            return self.decide(request).get("decision") == "allow"
        except Exception:
            return False

    def decide_batch(self, requests):
        return self._call("POST", "/v1/decide/batch", {"requests": requests})["decisions"]

    def sweep(self, developer=None, at=None):
        body = {k: v for k, v in (("developer", developer), ("at", at)) if v is not None}
        return self._call("POST", "/v1/sweep", body)["reports"]

    def facts(self, developer):
        return self._call("GET", f"/v1/facts/developers/{urllib.parse.quote(developer)}")["facts"]

    def set_facts(self, developer, facts):
        return self._call("PUT", f"/v1/facts/developers/{urllib.parse.quote(developer)}", facts, admin=True)

    def update_facts(self, developer, changes):
        return self._call("PATCH", f"/v1/facts/developers/{urllib.parse.quote(developer)}", changes, admin=True)

    def bundle(self):
        return self._call("GET", "/v1/bundle")

    def reload(self):
        return self._call("POST", "/v1/admin/reload", admin=True)

    def rollback(self):
        return self._call("POST", "/v1/admin/rollback", admin=True)


def main():
    c = Charter(os.environ.get("CHARTER_URL", "http://127.0.0.1:8877"), os.environ.get("CHARTER_TOKEN"))
    b = c.bundle()
    print(f"bundle {b['name']} {b['version']} {b['hash'][:23]}…")

    request = {
        "developer": "bank-001",
        "action": "privacy_compute",
        "dataset": "tax.enterprise_tax",
        "fields": ["credit_code", "total_tax_amount"],
        "scenario": "普惠金融",
        "at": "2026-06-01T09:00:00+08:00",
        "purpose": "小微企业授信审批",
        "consent": {"granted": True, "reference": "SQ-2026-000101"},
    }
    d = c.decide(request)
    print(f"{d['decision']} {d['decision_id']}")
    for r in d.get("reasons", []):
        print(f"  because {r['id']} ({r.get('article', '')}) at {r['source']}")

    no_consent = dict(request, fields=["total_tax_amount"], consent=None)
    del no_consent["consent"]
    print("without consent, allowed:", c.allowed(no_consent))

    for d in c.decide_batch([request, dict(request, developer="bank-002")]):
        print(f"batch: {d['developer']} {d['decision']}")

    try:
        c.decide(dict(request, feilds=["x"]))
    except CharterError as e:
        print(f"refused: {e}")

    for rep in c.sweep(developer="bank-002", at="2026-06-01"):
        print(f"sweep {rep['developer']}: measures {rep.get('measures', [])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
