"""LTI Advantage's Assignment and Grade Services on the test platform of
``tests/lti_platform.py``: its OAuth2 token endpoint (client credentials with
a signed JWT, IMS Security Framework 4.1) and one course's line items and
scores (AGS 2.0), on the same loopback server, recording every request.

``ags = Ags(platform, tool_jwk)`` registers the routes on a ``Platform``
(before or after it starts): ``POST /token``, ``GET|POST /courses/1/line_items``,
and for each line item ``PUT /courses/1/line_items/<n>`` and
``POST /courses/1/line_items/<n>/scores``. The tool's public key (a JWK) is
what the platform checks client assertions with. ``ags.scores`` and
``ags.items`` hold what the tool sent; ``ags.refused`` the requests it
answered with an error, and why.
"""

import json
import secrets
import time

import jwt

from course.lti_ags import AGS, LINEITEM, LINEITEMS, SCORE

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Ags:
    def __init__(self, platform, tool_jwk, scopes=(AGS + "lineitem", AGS + "score"),
                 page_size=50):
        self.platform, self.tool_jwk = platform, tool_jwk
        self.scopes, self.page_size = set(scopes), page_size
        self.tokens = {}          # access token -> granted scopes
        self.items = []           # line items, as created or updated
        self.scores = []          # (line item id, score body) in order received
        self.refused = []         # (path, reason)
        self.seen_jti = set()
        platform.route("POST", "/token", self._token)
        platform.route("GET", "/courses/1/line_items", self._list)
        platform.route("POST", "/courses/1/line_items", self._create)

    @property
    def token_url(self):
        return self.platform.url + "/token"

    @property
    def lineitems_url(self):
        return self.platform.url + "/courses/1/line_items"

    def _refuse(self, request, status, reason):
        self.refused.append((request.path, reason))
        return status, {}, {"error": reason}

    def _token(self, request):
        form = request.form
        if form.get("grant_type") != "client_credentials" or \
                form.get("client_assertion_type") != ASSERTION:
            return self._refuse(request, 400, "unsupported_grant_type")
        try:
            key = jwt.PyJWK(self.tool_jwk).key
            claims = jwt.decode(form.get("client_assertion", ""), key, algorithms=["RS256"],
                                audience=self.token_url,
                                options={"require": ["iss", "sub", "aud", "exp", "iat",
                                                     "jti"]})
        except jwt.PyJWTError as exc:
            return self._refuse(request, 401, f"invalid_client: {exc}")
        if claims["iss"] != self.platform.client_id or claims["sub"] != self.platform.client_id:
            return self._refuse(request, 401, "invalid_client: not this tool's client id")
        if claims["jti"] in self.seen_jti:
            return self._refuse(request, 401, "invalid_client: assertion replayed")
        self.seen_jti.add(claims["jti"])
        asked = set(form.get("scope", "").split())
        granted = asked & self.scopes
        token = secrets.token_urlsafe(24)
        self.tokens[token] = granted
        return 200, {}, {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                         "scope": " ".join(sorted(granted))}

    def _authorized(self, request, scope):
        header = request.headers.get("Authorization", "")
        granted = self.tokens.get(header.removeprefix("Bearer "), set())
        return header.startswith("Bearer ") and (AGS + scope) in granted

    def _list(self, request):
        if not self._authorized(request, "lineitem"):
            return self._refuse(request, 401, "no token with the lineitem scope")
        if LINEITEMS not in request.headers.get("Accept", ""):
            return self._refuse(request, 406, "Accept is not the line item container type")
        page = int(request.query.get("page", "0"))
        chunk = self.items[page * self.page_size:(page + 1) * self.page_size]
        headers = {"Content-Type": LINEITEMS}
        if (page + 1) * self.page_size < len(self.items):
            headers["Link"] = f'<{self.lineitems_url}?page={page + 1}>; rel="next"'
        return 200, headers, json.dumps(chunk)

    def _create(self, request):
        if not self._authorized(request, "lineitem"):
            return self._refuse(request, 401, "no token with the lineitem scope")
        if request.headers.get("Content-Type") != LINEITEM:
            return self._refuse(request, 415, "not a line item")
        body = request.json()
        if not body.get("label") or not float(body.get("scoreMaximum", 0)) > 0:
            return self._refuse(request, 400, "a line item needs a label and scoreMaximum > 0")
        item = {**body, "id": f"{self.lineitems_url}/{len(self.items) + 1}"}
        self.items.append(item)
        path = item["id"].removeprefix(self.platform.url)
        self.platform.route("PUT", path, lambda r, item=item: self._update(r, item))
        self.platform.route("POST", path + "/scores", lambda r, item=item: self._score(r, item))
        return 201, {"Content-Type": LINEITEM}, json.dumps(item)

    def _update(self, request, item):
        if not self._authorized(request, "lineitem"):
            return self._refuse(request, 401, "no token with the lineitem scope")
        item.update({k: v for k, v in request.json().items() if k != "id"})
        return 200, {"Content-Type": LINEITEM}, json.dumps(item)

    def _score(self, request, item):
        if not self._authorized(request, "score"):
            return self._refuse(request, 401, "no token with the score scope")
        if request.headers.get("Content-Type") != SCORE:
            return self._refuse(request, 415, "not a score")
        body = request.json()
        need = {"userId", "activityProgress", "gradingProgress", "timestamp"}
        if not need <= set(body) or not 0 <= body.get("scoreGiven", 0) <= body.get(
                "scoreMaximum", 0):
            return self._refuse(request, 400, f"a score needs {sorted(need)} and "
                                              "0 <= scoreGiven <= scoreMaximum")
        if body["userId"] not in {m.sub for m in self.platform.members.values()}:
            return self._refuse(request, 400, f"no user {body['userId']} in the course")
        self.scores.append((item["id"], body, time.time()))
        return 200, {}, ""
