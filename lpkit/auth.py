"""Access control: with LPKIT_API_TOKEN set, the API needs the token and the pages need a login.

The API takes the token as ``Authorization: Bearer <token>``. A browser logs
in once at /login by typing the token. Its session then stores a SHA-256
fingerprint of the token, so changing the token logs every browser out.
Without a token, everyone who can reach the server may use it, which is why
it listens on 127.0.0.1 unless configured otherwise.
"""

import hashlib
import hmac
import logging
import os

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for

from lpkit.web_security import csrf_token, validate_csrf

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

SESSION_KEY = "api_token_sha256"
# Endpoints that stay open without a login: the login page itself and the style sheets it uses.
OPEN_ENDPOINTS = {"auth.login", "auth.logout", "static"}
# The browser's session may read the API (the pages link to report CSVs) but not trigger reports.
SESSION_API_METHODS = {"GET", "HEAD"}


def configured_token():
    """Return the API token from the app config, or None when access is open."""
    return current_app.config.get("API_TOKEN") or None


def _fingerprint(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(candidate):
    """Compare a token with the configured one in constant time."""
    expected = configured_token()
    if expected is None or candidate is None:
        return False
    return hmac.compare_digest(candidate.encode("utf-8"), expected.encode("utf-8"))


def bearer_token():
    """Return the token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def logged_in():
    """Return whether the browser session logged in with the current token."""
    stored = session.get(SESSION_KEY)
    return stored is not None and hmac.compare_digest(stored, _fingerprint(configured_token()))


def _require_access():
    """Reject a request that lacks the token (API) or a login (pages) while a token is configured."""
    if configured_token() is None or request.endpoint in OPEN_ENDPOINTS:
        return None

    if request.blueprint == "api" or _looks_like_api():
        if token_matches(bearer_token()):
            return None
        if request.method in SESSION_API_METHODS and logged_in():
            return None
        return _api_unauthorized()

    if logged_in():
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _looks_like_api():
    """Return whether the request is for an API path that routing rejected, such as GET /trigger_report."""
    return request.path in ("/trigger_report", "/get_report")


def _api_unauthorized():
    if request.headers.get("Authorization"):
        log.warning("rejected an API request to %s with a wrong token from %s", request.path, request.remote_addr)
        message = "the API token is wrong; send the token the server was started with, as Authorization: Bearer <token>"
    else:
        message = "the API needs a token; send it as Authorization: Bearer <token> (the value of LPKIT_API_TOKEN)"
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="lpkit"'
    return response


def _safe_next(target):
    """Return a redirect target on this site: a path starting with one slash, else the home page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form, or check the typed token and log the browser in."""
    next_path = _safe_next(request.values.get("next"))
    if configured_token() is None:
        return redirect(next_path)

    if request.method == "GET":
        return render_template("login.html", next_path=next_path, error=None)

    validate_csrf()
    if not token_matches(request.form.get("token", "")):
        log.warning("failed login from %s", request.remote_addr)
        error = "That token is wrong. Type the value of LPKIT_API_TOKEN that the server was started with."
        return render_template("login.html", next_path=next_path, error=error), 401

    session.clear()
    session[SESSION_KEY] = _fingerprint(configured_token())
    return redirect(next_path, code=303)


@bp.post("/logout")
def logout():
    """Forget the browser's login."""
    validate_csrf()
    session.pop(SESSION_KEY, None)
    return redirect(url_for("auth.login"), code=303)


def init_app(app):
    """Read LPKIT_API_TOKEN (unless the config sets API_TOKEN) and guard every request."""
    if "API_TOKEN" not in app.config:
        app.config["API_TOKEN"] = os.environ.get("LPKIT_API_TOKEN") or None
    app.jinja_env.globals.setdefault("csrf_token", csrf_token)
    app.register_blueprint(bp)
    app.before_request(_require_access)
