"""The LMS side of LTI 1.3, played by a test: a platform like Canvas on loopback.

What it holds and serves (http://127.0.0.1:PORT):

- ``GET /jwks``: the platform's JSON Web Key Set, the public half of an RSA
  key made when the platform is created (the tool verifies launches with it).
- ``GET|POST /authorize``: the OIDC authorization endpoint of the LTI 1.3
  launch (IMS Security Framework 1.0, section 5.1.1): it checks the tool's
  authentication request (client id, registered redirect URI, response type,
  nonce, the user named by ``login_hint``) and answers, as Canvas does, with a
  page that posts the signed ``id_token`` and the tool's ``state`` back to the
  tool.

A launch from a test: the platform's "browser" (a ``requests.Session``)
posts the third-party login initiation to the tool, follows the tool's
redirect to ``/authorize`` and submits the form it gets back
(``Platform.launch``). Nothing of the tool is imitated: the tool is whatever
runs at the URL the test gives.

More endpoints (LTI Advantage: an OAuth2 token endpoint, line items and
scores) are added with ``Platform.route(method, path, handler)``; a handler
takes a ``Request`` and returns ``(status, headers, body)``, where a dict or
list body is sent as JSON. ``Platform.sign(claims)`` signs any JWT with the
platform's key.
"""

import base64
import html
import html.parser
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# Course (context) roles, as Canvas sends them
LEARNER = f"{MEMBERSHIP}#Learner"
INSTRUCTOR = f"{MEMBERSHIP}#Instructor"
TEACHING_ASSISTANT = f"{MEMBERSHIP}/Instructor#TeachingAssistant"
# Institution roles: who someone is at the university, not in this course
INSTITUTION_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"
INSTITUTION_STUDENT = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"


def _b64url_uint(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_key():
    """A fresh 2048-bit RSA private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key, kid):
    """The JWK (RFC 7517) of ``key``'s public half, for RS256 signatures."""
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


@dataclass
class Request:
    """One request to the platform, as a handler sees it."""

    method: str
    path: str
    query: dict  # {name: last value}
    form: dict  # an application/x-www-form-urlencoded body, else {}
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Member:
    """A person enrolled in a course of the platform."""

    sub: str  # the platform's opaque, stable user id
    roles: list
    custom: dict = field(default_factory=dict)  # the tool's custom fields, substituted
    name: str = ""
    email: str = ""
    context: dict = None  # the course the launch comes from; None: the platform's default
    claims: dict = field(default_factory=dict)  # more claims of this person's launches


class Platform:
    """An LTI 1.3 platform (the LMS) on loopback, for one tool registration.

    Parameters
    ----------
    client_id : str
        The tool's client id at this platform (Canvas: the developer key's id).
    deployment_id : str
        The deployment the launches name.
    context : dict
        The default course of a launch: ``{"id", "label", "title"}``.
    """

    def __init__(self, client_id="10000000000001", deployment_id="1:cnn1d",
                 context=None):
        self.client_id, self.deployment_id = client_id, deployment_id
        self.context = context or {"id": "c0ffee0000000000000000000000000000000001",
                                   "label": "CNN1D", "title": "1D CNNs from scratch"}
        self.key, self.kid = new_key(), uuid.uuid4().hex
        self.members = {}  # login_hint -> Member
        self.redirect_uris = set()  # the tool's registered launch URLs
        self.issued = []  # the id_tokens the platform signed, in order
        # the key launches are signed with; another than ``key`` (whose public half
        # the JWKS serves) plays a forger
        self.launch_key = None
        self._routes = {}
        self.route("GET", "/jwks", self._jwks)
        self.route("GET", "/authorize", self._authorize)
        self.route("POST", "/authorize", self._authorize)
        self._server = self._thread = None

    # -- the server ----------------------------------------------------------

    def route(self, method, path, handler):
        """Serve ``handler(Request) -> (status, headers, body)`` at ``method path``."""
        self._routes[(method.upper(), path)] = handler

    def start(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {}
                if self.headers.get("Content-Type", "").startswith(
                        "application/x-www-form-urlencoded"):
                    form = dict(urllib.parse.parse_qsl(body.decode()))
                handler = platform._routes.get((self.command, url.path))
                if handler is None:
                    status, headers, out = 404, {}, f"no {self.command} {url.path}\n"
                else:
                    request = Request(self.command, url.path,
                                      dict(urllib.parse.parse_qsl(url.query)), form,
                                      dict(self.headers), body)
                    status, headers, out = handler(request)
                if isinstance(out, (dict, list)):
                    out, headers = json.dumps(out), {"Content-Type": "application/json",
                                                     **headers}
                out = out.encode() if isinstance(out, str) else out
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self):
        """Canvas's is https://canvas.instructure.com; here the platform's own URL."""
        return self.url

    @property
    def jwks_url(self):
        return self.url + "/jwks"

    @property
    def authorize_url(self):
        return self.url + "/authorize"

    # -- keys and tokens -----------------------------------------------------

    def jwks(self):
        return {"keys": [public_jwk(self.key, self.kid)]}

    def _jwks(self, request):
        return 200, {}, self.jwks()

    def sign(self, claims, key=None, kid=None):
        """``claims`` as a JWT signed RS256 by the platform's key (or ``key``)."""
        return jwt.encode(claims, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid})

    def enrol(self, login_hint, roles, **member):
        """Add a person; ``member``: the fields of ``Member`` (``sub`` defaults to a UUID)."""
        member.setdefault("sub", str(uuid.uuid4()))
        self.members[login_hint] = Member(roles=list(roles), **member)
        return self.members[login_hint]

    def launch_claims(self, member, nonce, target_link_uri):
        """The id_token claims of an LtiResourceLinkRequest (LTI 1.3, section 5.3)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id,
            "sub": member.sub, "iat": now, "exp": now + 300, "nonce": nonce,
            "name": member.name, "email": member.email,
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": target_link_uri,
            LTI + "resource_link": {"id": "cnn1d-hub-link", "title": "JupyterHub"},
            LTI + "roles": list(member.roles),
            LTI + "context": dict(member.context or self.context),
            LTI + "custom": dict(member.custom),
            **member.claims,
        }
        return claims

    # -- the OIDC launch -----------------------------------------------------

    def _authorize(self, request):
        args = {**request.query, **request.form}
        expected = {"scope": "openid", "response_type": "id_token",
                    "response_mode": "form_post", "prompt": "none",
                    "client_id": self.client_id}
        wrong = {k: args.get(k) for k, v in expected.items() if args.get(k) != v}
        if wrong:
            return 400, {}, f"authentication request: unexpected {wrong}\n"
        if args.get("redirect_uri") not in self.redirect_uris:
            return 400, {}, f"redirect_uri {args.get('redirect_uri')!r} is not registered\n"
        member = self.members.get(args.get("login_hint"))
        if member is None or not args.get("nonce"):
            return 400, {}, "unknown login_hint or no nonce\n"
        claims = self.launch_claims(member, args["nonce"],
                                    args.get("lti_message_hint") or args["redirect_uri"])
        token = self.sign(claims, key=self.launch_key)
        self.issued.append(token)
        return 200, {"Content-Type": "text/html"}, autosubmit_form(
            args["redirect_uri"], {"id_token": token, "state": args.get("state", "")})

    def login_initiation(self, target_link_uri, login_hint):
        """The fields of the third-party initiated login the platform sends the tool."""
        return {"iss": self.issuer, "login_hint": login_hint,
                "target_link_uri": target_link_uri, "client_id": self.client_id,
                "lti_deployment_id": self.deployment_id,
                "lti_message_hint": secrets.token_urlsafe(8)}

    def serve_launch(self, login_url, target_link_uri):
        """The course's link to the tool, as a page of this platform: GET
        ``/launch?login_hint=...`` answers a page that posts the login initiation
        to the tool's ``login_url`` as it loads (what the LMS's page does in a
        person's browser). Returns its address."""
        def page(request):
            fields = self.login_initiation(target_link_uri, request.query.get("login_hint", ""))
            return 200, {"Content-Type": "text/html"}, autosubmit_form(login_url, fields)

        self.route("GET", "/launch", page)
        return self.url + "/launch"

    def launch(self, session, login_url, target_link_uri, login_hint):
        """A person's browser launching the tool from the course.

        Posts the login initiation to the tool's ``login_url``, follows its
        redirect to this platform's authorization endpoint, and submits the
        form that comes back to the tool. Returns the tool's answer to that
        form (redirects not followed), or the first answer that is not what
        the flow expects.
        """
        answer = session.post(login_url, data=self.login_initiation(target_link_uri,
                                                                    login_hint),
                              allow_redirects=False)
        if answer.status_code != 302:
            return answer
        answer = session.get(answer.headers["Location"], allow_redirects=False)
        if answer.status_code != 200:
            return answer
        action, fields = read_form(answer.text)
        return session.post(action, data=fields, allow_redirects=False)


def autosubmit_form(action, fields):
    """A page that posts ``fields`` to ``action`` as soon as it loads."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in fields.items())
    return (f'<!doctype html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(action)}">{inputs}</form></body>')


def read_form(page):
    """(action, {name: value}) of the first form of an HTML page."""

    class Reader(html.parser.HTMLParser):
        action, fields = None, {}

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "form" and self.action is None:
                self.action = attrs.get("action")
            elif tag == "input" and attrs.get("name"):
                self.fields[attrs["name"]] = attrs.get("value", "")

    reader = Reader()
    reader.fields = {}
    reader.feed(page)
    if reader.action is None:
        raise ValueError(f"no form in the page: {page[:300]!r}")
    return reader.action, reader.fields
