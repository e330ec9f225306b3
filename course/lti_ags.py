"""Final grades back to the LMS with LTI Advantage's Assignment and Grade
Services (AGS 2.0): one line item per stage, one score per student.

The scores are the gradebook's, as the Canvas CSV export
(``course.lms.CanvasExport``) computes them: the automatic checks plus the
written answers graded in formgrader, less the late penalty, 0 for a student
who submitted nothing. The CSV stays for an LMS without AGS.

The tool authenticates to the platform's OAuth2 token endpoint with a JWT
signed by its own private key (the public half is registered with the
platform, Canvas: the LTI developer key's JWKS) — the client-credentials
grant of the IMS Security Framework (section 4.1) — and asks for the
``lineitem`` and ``score`` scopes. Then, for each stage asked for, it finds
the course's line item with ``resourceId`` = the stage name (creating it when
missing, with the stage's points as ``scoreMaximum``) and posts each student's
score to it. A student is named by the platform's user id (the ``sub`` of their
LTI launch): ``--users`` maps logins to those ids.

    python -m course.lti_ags --platform lti.json --users lti_users.csv \\
        --gradebook gradebook.db single_channel output_size

``lti.json``: {"client_id", "token_url", "lineitems" (the
``https://purl.imsglobal.org/spec/lti-ags/claim/endpoint`` claim's
``lineitems`` URL of the course's launch), "key_file" (the tool's private
key, PEM), "kid" (its key id in the tool's JWKS), "audience" (optional: the
token endpoint's expected audience, default its URL)}.
"""

import argparse
import csv
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPES = (AGS + "lineitem", AGS + "score")
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
TAG = "cnn1d"


class AgsError(RuntimeError):
    """The platform refused a request or the configuration is wrong."""


class AgsClient:
    """Talks to one platform's token endpoint and one course's line items.

    Parameters
    ----------
    client_id, token_url, lineitems : str
    key : cryptography RSA private key, or PEM bytes
        The tool's private key.
    kid : str
        Its id in the tool's JWKS (the platform picks the public key by it).
    audience : str, optional
        The ``aud`` of the client assertion (default: ``token_url``).
    """

    def __init__(self, client_id, token_url, lineitems, key, kid, audience=None, timeout=30):
        self.client_id, self.token_url, self.lineitems = client_id, token_url, lineitems
        self.key, self.kid, self.audience = key, kid, audience or token_url
        self.timeout = timeout
        self._token, self._expires = None, 0.0

    @classmethod
    def from_file(cls, path):
        try:
            conf = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise AgsError(f"--platform {path}: {exc}") from None
        missing = [k for k in ("client_id", "token_url", "lineitems", "key_file", "kid")
                   if not conf.get(k)]
        if missing:
            raise AgsError(f"--platform {path}: missing {', '.join(missing)}")
        key_file = Path(path).parent / conf["key_file"]
        try:
            key = key_file.read_bytes()
        except OSError as exc:
            raise AgsError(f"{path}: key_file: {exc}") from None
        return cls(conf["client_id"], conf["token_url"], conf["lineitems"], key, conf["kid"],
                   conf.get("audience"))

    # ------------------------------------------------------------ OAuth2
    def client_assertion(self):
        import jwt

        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.audience,
                  "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def token(self):
        if self._token and time.time() < self._expires - 30:
            return self._token
        form = {"grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:"
                                         "jwt-bearer",
                "client_assertion": self.client_assertion(), "scope": " ".join(SCOPES)}
        status, _, body = self._http("POST", self.token_url, urllib.parse.urlencode(form),
                                     {"Content-Type": "application/x-www-form-urlencoded"},
                                     auth=False)
        data = json.loads(body)
        granted = set(data.get("scope", " ".join(SCOPES)).split())
        if not set(SCOPES) <= granted:
            raise AgsError(f"the platform granted {sorted(granted)}, not {list(SCOPES)}: "
                           "enable the AGS scopes on the tool's registration (Canvas: the "
                           "developer key's LTI Advantage Services)")
        self._token = data["access_token"]
        self._expires = time.time() + float(data.get("expires_in", 3600))
        return self._token

    def _http(self, method, url, body=None, headers=None, auth=True):
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise AgsError(f"{method} {url}: HTTP {exc.code}: "
                           f"{exc.read().decode(errors='replace')[:500]}") from None
        except urllib.error.URLError as exc:
            raise AgsError(f"{method} {url}: {exc.reason}") from None

    # ------------------------------------------------------------ line items
    def line_items(self):
        """Every line item of the course (following the Link: rel="next" pages)."""
        items, url = [], self.lineitems
        while url:
            _, headers, body = self._http("GET", url, headers={"Accept": LINEITEMS})
            items += json.loads(body)
            url = _next_link(headers.get("Link", ""))
        return items

    def line_item(self, resource_id, label, score_maximum):
        """The line item whose resourceId is ``resource_id``, created when missing."""
        found = [i for i in self.line_items() if i.get("resourceId") == resource_id]
        if len(found) > 1:
            raise AgsError(f"the course has {len(found)} line items with resourceId "
                           f"{resource_id!r}: delete the extra ones in the LMS")
        if found:
            item = found[0]
            if float(item.get("scoreMaximum", 0)) != float(score_maximum):
                item = {**item, "scoreMaximum": score_maximum}
                self._http("PUT", item["id"], json.dumps(item), {"Content-Type": LINEITEM})
            return item
        body = {"label": label, "scoreMaximum": score_maximum, "resourceId": resource_id,
                "tag": TAG}
        _, _, out = self._http("POST", self.lineitems, json.dumps(body),
                               {"Content-Type": LINEITEM, "Accept": LINEITEM})
        return json.loads(out)

    def post_score(self, item, user_id, score, maximum, comment=""):
        url = _scores_url(item["id"])
        body = {"userId": user_id, "scoreGiven": score, "scoreMaximum": maximum,
                "activityProgress": "Completed", "gradingProgress": "FullyGraded",
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds")}
        if comment:
            body["comment"] = comment
        self._http("POST", url, json.dumps(body), {"Content-Type": SCORE})


def _scores_url(lineitem):
    """``<lineitem>/scores``, keeping the line item URL's query string."""
    parts = urllib.parse.urlsplit(lineitem)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def _next_link(header):
    for part in header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


# --------------------------------------------------------------------------
# Scores from the gradebook
# --------------------------------------------------------------------------

def gradebook_scores(db, assignments):
    """{assignment: {login: (points, comment)}} as the Canvas export computes them;
    a student in the gradebook with no submission gets (0, "nothing submitted")."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        students = [s.id for s in gb.students]
        for name in assignments:
            try:
                gb.find_assignment(name)
            except MissingEntry:
                raise AgsError(f"{db} has no assignment {name!r}") from None
            scores = {}
            for login in students:
                try:
                    sub = gb.find_submission(name, login)
                except MissingEntry:
                    scores[login] = (0.0, "nothing submitted")
                    continue
                penalty = sub.late_submission_penalty or 0.0
                late = f"late: {penalty:g} points off" if sub.total_seconds_late > 0 else ""
                scores[login] = (max(0.0, sub.score - penalty), late)
            out[name] = scores
    return out


def read_users(path):
    """{login: LTI user id} from a CSV with the columns ``login`` and ``lti_user_id``."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"login", "lti_user_id"} <= set(rows[0]):
        raise AgsError(f"{path}: expected the columns login, lti_user_id; got "
                       f"{', '.join(rows[0])}")
    return {r["login"].strip(): r["lti_user_id"].strip() for r in rows if r["login"].strip()}


def passback(client, scores, users):
    """Post ``scores`` ({assignment: {login: (points, comment)}}) as each stage's
    line item; returns {"posted": n, "unmapped": [logins without an LTI id]}."""
    from course.stages import get_stage

    posted, unmapped = 0, set()
    for name, by_login in scores.items():
        stage = get_stage(name)
        item = client.line_item(name, f"{stage.number}. {stage.title}", stage.total_points)
        for login, (points, comment) in sorted(by_login.items()):
            if login not in users:
                unmapped.add(login)
                continue
            client.post_score(item, users[login], points, stage.total_points, comment)
            posted += 1
    return {"posted": posted, "unmapped": sorted(unmapped)}


def new_key(path):
    """Write a new RSA key for the tool (PEM, mode 0600); returns its JWKS, what the
    LMS's tool registration takes as the tool's public key."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)

    def b64(n):
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "e": b64(numbers.e), "n": b64(numbers.n)}
    # the key id: RFC 7638's thumbprint of the public key
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    jwk["kid"] = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()
                                          ).rstrip(b"=").decode()
    return {"keys": [jwk]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.lti_ags",
                                     description="final grades to the LMS's gradebook "
                                                 "(LTI Advantage AGS)")
    parser.add_argument("assignments", nargs="*", help="the stages to send")
    parser.add_argument("--platform", help="the platform's JSON settings")
    parser.add_argument("--users", help="CSV: login, lti_user_id")
    parser.add_argument("--gradebook", default="gradebook.db")
    parser.add_argument("--new-key", metavar="FILE",
                        help="write a new key for the tool to FILE and print its JWKS")
    args = parser.parse_args(argv)
    if args.new_key:
        try:
            print(json.dumps(new_key(args.new_key), indent=1))
        except FileExistsError:
            print(f"error: {args.new_key} exists; not replacing a key the LMS may know",
                  file=sys.stderr)
            return 2
        return 0
    if not (args.assignments and args.platform and args.users):
        parser.error("give the stages to send, --platform and --users (or --new-key FILE)")
    try:
        if not Path(args.gradebook).exists():
            raise AgsError(f"no gradebook at {args.gradebook} (run it in the course root, "
                           "or pass --gradebook)")
        client = AgsClient.from_file(args.platform)
        result = passback(client, gradebook_scores(args.gradebook, args.assignments),
                          read_users(args.users))
    except (AgsError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result['posted']} scores posted")
    if result["unmapped"]:
        print("not sent (no LTI user id in --users): " + ", ".join(result["unmapped"]),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
