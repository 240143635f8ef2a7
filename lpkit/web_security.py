"""Browser-facing protection: CSRF tokens for page forms and security headers on every response."""

import hmac
import logging
import secrets

from flask import request, session
from werkzeug.exceptions import BadRequest

log = logging.getLogger(__name__)

CSRF_SESSION_KEY = "csrf_token"
CSRF_FORM_FIELD = "csrf_token"

# Pages load scripts and styles only from /static, so no inline code is needed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class CsrfError(BadRequest):
    """A page form was posted without the token of the session that rendered it."""

    description = (
        "The form could not be checked (its security token is missing or out of date, "
        "for example after a server restart or in another browser). Reload the page and submit it again."
    )


def csrf_token():
    """Return the session's CSRF token, creating it on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def validate_csrf():
    """Raise CsrfError unless the posted form carries the session's CSRF token."""
    expected = session.get(CSRF_SESSION_KEY)
    sent = request.form.get(CSRF_FORM_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        log.warning("rejected a POST to %s without a valid CSRF token", request.path)
        raise CsrfError()


def add_security_headers(response):
    """Set the content security policy and related headers on a response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def init_app(app):
    """Register the security headers and make csrf_token() available to templates."""
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
