"""Who may use lpkit: the bind address, the secret key, the API token and login, and the security headers."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_csv
from live_server import REPO, server_env, start_flask

from lpkit import PROJECT_ROOT, _secret_key, auth, create_app, importer

TOKEN = "correct horse battery staple"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


@pytest.fixture
def token_app(app):
    app.config["API_TOKEN"] = TOKEN
    return app


@pytest.fixture
def token_client(token_app):
    return token_app.test_client()


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def page_csrf_token(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client, token=TOKEN, next_path="/"):
    data = {"csrf_token": page_csrf_token(client), "token": token, "next": next_path}
    return client.post("/login", data=data)


# Binding, debug mode and the secret key --------------------------------------


def test_makefile_binds_loopback():
    makefile = (REPO / "Makefile").read_text()

    assert re.search(r"^HOST \?= 127\.0\.0\.1$", makefile, re.MULTILINE)
    assert "--host $(HOST)" in makefile


def test_debug_off_by_default(app, monkeypatch):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)

    assert not app.debug
    assert not create_app({"DATABASE": app.config["DATABASE"], "SECRET_KEY": "x"}).debug


def test_server_runs_without_debugger(tmp_path):
    server = start_flask(server_env(tmp_path / "lpkit.sqlite", tmp_path / "reports"), tmp_path / "server.log")
    try:
        status, _headers, body = server.request("GET", "/no-such-page")
    finally:
        server.stop()

    assert status == 404
    assert b"Werkzeug Debugger" not in body
    assert "Debugger is active" not in server.log_text()


def test_secret_key_generated_once(tmp_path, monkeypatch):
    monkeypatch.delenv("LPKIT_SECRET_KEY", raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first = _secret_key(tmp_path / "a")
    again = _secret_key(tmp_path / "a")
    other = _secret_key(tmp_path / "b")

    assert first == again
    assert first != other
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert (tmp_path / "a" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_secret_key_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LPKIT_SECRET_KEY", "from-the-environment")

    assert _secret_key(tmp_path) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_app_instances_share_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("LPKIT_SECRET_KEY", raising=False)
    config = {"DATABASE": str(tmp_path / "lpkit.sqlite"), "REPORTS_DIR": str(tmp_path / "reports")}

    first = create_app(dict(config))
    second = create_app(dict(config))

    assert first.secret_key == second.secret_key
    assert first.secret_key == (PROJECT_ROOT / "instance" / "secret_key").read_text().strip()
    assert first.secret_key not in ("dev", "test", "")
    assert len(first.secret_key) >= 32


def test_workers_starting_together_share_key(tmp_path, monkeypatch):
    monkeypatch.delenv("LPKIT_SECRET_KEY", raising=False)
    script = f"import sys, time; time.sleep(max(0, {time.time() + 1.0} - time.time())); from lpkit import _secret_key; print(_secret_key(sys.argv[1]))"

    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True) for _ in range(8)
    ]
    keys = {process.communicate(timeout=30)[0].strip() for process in processes}

    assert len(keys) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "secret_key"]


# The API token ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(TOKEN + "x"), bearer(""), {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
    ids=["none", "wrong", "longer", "empty", "basic", "no-scheme"],
)
def test_api_rejects_missing_or_wrong_token(token_client, headers):
    for response in (
        token_client.post("/trigger_report", headers=headers),
        token_client.get("/get_report?report_id=x", headers=headers),
        token_client.get("/trigger_report", headers=headers),
    ):
        assert response.status_code == 401
        assert "Authorization: Bearer" in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_accepts_bearer_token(token_client):
    triggered = token_client.post("/trigger_report", headers=bearer())
    report_id = triggered.get_json()["report_id"]
    fetched = token_client.get(f"/get_report?report_id={report_id}", headers=bearer())

    assert triggered.status_code == 202
    assert fetched.status_code == 200


def test_token_compared_in_constant_time(token_client, monkeypatch):
    compared = []
    original = auth.hmac.compare_digest

    def spy(left, right):
        compared.append((left, right))
        return original(left, right)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    token_client.post("/trigger_report", headers=bearer("wrong"))

    assert (b"wrong", TOKEN.encode()) in compared


def test_api_open_without_token(client):
    assert client.post("/trigger_report").status_code == 202
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 302


# Pages and login ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/reports/abc", "/stores/1", "/no-such-page"])
def test_pages_redirect_to_login(token_client, path):
    response = token_client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_page_has_password_field(token_client):
    html = token_client.get("/login").get_data(as_text=True)

    assert 'type="password"' in html
    assert 'name="csrf_token"' in html
    assert "site-header" in html


def test_login_with_token_opens_pages(token_client):
    response = log_in(token_client, next_path="/reports/abc")

    assert response.status_code == 303
    assert response.headers["Location"] == "/reports/abc"
    assert token_client.get("/").status_code == 200


def test_login_with_wrong_token_fails(token_client):
    response = log_in(token_client, token="guess")

    assert response.status_code == 401
    assert "token is wrong" in response.get_data(as_text=True)
    assert token_client.get("/").status_code == 302


def test_login_needs_csrf_token(token_client):
    response = token_client.post("/login", data={"token": TOKEN})

    assert response.status_code == 400
    assert token_client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_login_redirects_only_on_site(token_client, target):
    response = log_in(token_client, next_path=target)

    assert response.headers["Location"] == "/"


def test_session_reads_api_but_cannot_trigger(token_client, token_app):
    log_in(token_client)
    report_id = token_client.post("/trigger_report", headers=bearer()).get_json()["report_id"]

    assert token_client.get(f"/get_report?report_id={report_id}").status_code == 200
    assert token_client.post("/trigger_report").status_code == 401


def test_changed_token_logs_out(token_client, token_app):
    log_in(token_client)
    token_app.config["API_TOKEN"] = "a new token"

    assert token_client.get("/").status_code == 302


def test_logout_forgets_login(token_client):
    log_in(token_client)
    csrf = page_csrf_token(token_client, "/")

    token_client.post("/logout", data={"csrf_token": csrf})

    assert token_client.get("/").status_code == 302


def test_static_files_open_without_login(token_client):
    assert token_client.get("/static/lpkit.css").status_code == 200


def test_token_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LPKIT_API_TOKEN", "env-token")
    app = create_app({"DATABASE": str(tmp_path / "lpkit.sqlite"), "REPORTS_DIR": str(tmp_path / "r"), "SECRET_KEY": "x"})

    assert app.test_client().post("/trigger_report").status_code == 401


# Report files -----------------------------------------------------------------


def test_reports_served_only_by_id(app, client):
    planted = Path(app.config["REPORTS_DIR"]) / "report-planted.csv"
    planted.write_text("store_id\r\nsecret\r\n")

    response = client.get("/get_report?report_id=planted")

    assert response.status_code == 404
    assert b"secret" not in response.data


def test_no_route_takes_a_file_path(app):
    path_rules = {rule.endpoint for rule in app.url_map.iter_rules() if "path" in str(rule) or "<path:" in rule.rule}

    assert path_rules <= {"static", "pages.store"}


# Security headers ---------------------------------------------------------------


def complete_report(client, tmp_path, connection):
    polls = write_csv(tmp_path / "status.csv", "store_id,status,timestamp_utc\n1,active,2023-01-25 18:00:00 UTC\n")
    importer.import_paths(connection, [polls], rejects_dir=tmp_path)
    report_id = client.post("/trigger_report").get_json()["report_id"]
    client.application.extensions["lpkit.runner"].executor.shutdown(wait=True)
    return report_id


def test_every_response_kind_has_security_headers(app, client, tmp_path, connection):
    report_id = complete_report(client, tmp_path, connection)
    responses = {
        "API JSON": client.get(f"/get_report?report_id={report_id}", headers={"Accept": "application/json"}),
        "CSV": client.get(f"/get_report?report_id={report_id}"),
        "API error": client.get("/get_report?report_id=nope"),
        "405": client.get("/trigger_report"),
        "page": client.get("/"),
        "report page": client.get(f"/reports/{report_id}"),
        "404": client.get("/no-such-page"),
        "static": client.get("/static/lpkit.css"),
    }

    assert responses["CSV"].mimetype == "text/csv"
    for kind, response in responses.items():
        for header in SECURITY_HEADERS:
            assert header in response.headers, f"{kind} response ({response.status_code}) lacks {header}"
        assert response.headers["X-Content-Type-Options"] == "nosniff", kind


def test_auth_responses_have_security_headers(token_client):
    for response in (token_client.post("/trigger_report"), token_client.get("/"), token_client.get("/login")):
        for header in SECURITY_HEADERS:
            assert header in response.headers, f"{response.status_code} response lacks {header}"
