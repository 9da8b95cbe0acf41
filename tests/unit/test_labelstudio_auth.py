"""Label Studio credentials over real sockets (a scripted local server): the
token refresh of a personal access token has the retry policy of every other
request, and only a refused refresh token is an authentication error."""

import base64
import json
import time

import pytest
from scripted_http import Drop, Respond

from fo_annotation_backends.core.errors import AuthenticationError, ParameterError, ServiceError
from fo_annotation_backends.labelstudio.auth import TokenAuth, token_kind
from fo_annotation_backends.labelstudio.client import LabelStudioClient

REFRESH = "/api/token/refresh/"
HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"


def jwt(token_type, lifetime=300, issued=None):
    issued = time.time() if issued is None else issued
    claims = {"token_type": token_type, "iat": int(issued), "exp": int(issued + lifetime), "jti": "%.6f" % time.time()}

    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return "%s.%s.signature" % (part({"alg": "HS256", "typ": "JWT"}), part(claims))


PAT = jwt("refresh", lifetime=10 * 365 * 86400)


def healthy(server):
    server.script("/health", Respond(200, json_body={"status": "UP"}))
    server.script("/api/current-user/whoami", Respond(200, json_body={"id": 1, "email": "a@example.com"}))


def test_a_refresh_answered_429_html_503_and_a_dropped_connection_is_retried(http_server):
    healthy(http_server)
    access = jwt("access")
    http_server.script(
        REFRESH,
        Respond(429, headers={"Retry-After": "0"}, json_body={"detail": "slow down"}),
        Respond(503, HTML_503, headers={"Content-Type": "text/html"}),
        Drop(),
        Respond(200, json_body={"access": access}),
    )
    client = LabelStudioClient(http_server.url, PAT, max_retries=4)

    assert client.check_credentials()["email"] == "a@example.com"

    assert http_server.count("POST", REFRESH) == 4
    (whoami,) = [r for r in http_server.requests if r.path == "/api/current-user/whoami"]
    assert whoami.headers["Authorization"] == "Bearer %s" % access
    assert not client.uses_legacy_token


def test_a_refresh_that_keeps_failing_is_not_called_a_bad_token(http_server):
    healthy(http_server)
    http_server.script(REFRESH, Respond(429, headers={"Retry-After": "0"}, json_body={"detail": "slow down"}))
    client = LabelStudioClient(http_server.url, PAT, max_retries=2)

    with pytest.raises(ServiceError) as info:
        client.check_credentials()

    assert not isinstance(info.value, AuthenticationError)
    assert "429" in str(info.value) and "new one" not in str(info.value)
    assert http_server.count("POST", REFRESH) == 3


@pytest.mark.parametrize("status", [400, 401])
def test_only_a_refused_refresh_token_is_an_authentication_error(http_server, status):
    healthy(http_server)
    http_server.script(REFRESH, Respond(status, json_body={"detail": "Token is invalid", "code": "token_not_valid"}))
    client = LabelStudioClient(http_server.url, PAT)

    with pytest.raises(AuthenticationError, match="refused the personal access token.*Create a new one") as info:
        client.check_credentials()

    assert PAT not in str(info.value)
    assert http_server.count("POST", REFRESH) == 1


def test_the_access_token_is_refreshed_before_it_expires(http_server):
    now = [1000.0]
    tokens = [jwt("access", lifetime=300) for _ in range(2)]
    http_server.script(REFRESH, *(Respond(200, json_body={"access": t}) for t in tokens))
    client = LabelStudioClient(http_server.url, PAT)
    auth = TokenAuth(PAT, client.anonymous, clock=lambda: now[0])

    assert auth.header() == "Bearer %s" % tokens[0]
    now[0] += 265  # 35 s left: still good
    assert auth.header() == "Bearer %s" % tokens[0]
    now[0] += 10  # 25 s left: inside the 30 s margin
    assert auth.header() == "Bearer %s" % tokens[1]
    assert http_server.count("POST", REFRESH) == 2


def test_a_401_refreshes_once_and_sends_the_request_again(http_server):
    first, second = jwt("access"), jwt("access")
    http_server.script(REFRESH, Respond(200, json_body={"access": first}), Respond(200, json_body={"access": second}))
    http_server.script(
        "/api/projects/7",
        Respond(401, json_body={"detail": "Given token not valid for any token type"}),
        Respond(200, json_body={"id": 7}),
    )
    client = LabelStudioClient(http_server.url, PAT)

    assert client.get_project(7) == {"id": 7}

    sent = [r.headers["Authorization"] for r in http_server.requests if r.path == "/api/projects/7"]
    assert sent == ["Bearer %s" % first, "Bearer %s" % second]
    assert client.auth.resent_after_401 == 1


def test_a_second_401_is_an_authentication_error_not_a_loop(http_server):
    http_server.script(REFRESH, Respond(200, json_body={"access": jwt("access")}))
    http_server.script("/api/projects/7", Respond(401, json_body={"detail": "no"}))
    client = LabelStudioClient(http_server.url, PAT)

    with pytest.raises(AuthenticationError):
        client.get_project(7)

    assert http_server.count("GET", "/api/projects/7") == 2


def test_an_expired_personal_access_token_is_refused_before_any_request(http_server):
    expired = jwt("refresh", lifetime=60, issued=time.time() - 3600)
    with pytest.raises(AuthenticationError, match="expired on .*Create a new one"):
        LabelStudioClient(http_server.url, expired)
    assert http_server.requests == []


def test_legacy_tokens_are_sent_as_they_are(http_server):
    healthy(http_server)
    client = LabelStudioClient(http_server.url, "a-legacy-token")
    client.check_credentials()
    assert token_kind("a-legacy-token") == "legacy" and client.uses_legacy_token
    assert http_server.requests[-1].headers["Authorization"] == "Token a-legacy-token"
    assert http_server.count("POST", REFRESH) == 0


@pytest.mark.parametrize("path, suggestion", [("", None), ("/projects/3/data", "did you mean http://127.0.0.1")])
def test_a_url_that_is_not_a_label_studio_server_says_which_url_is_expected(http_server, path, suggestion):
    http_server.script("/health", Respond(404, "<html>Not Found</html>", headers={"Content-Type": "text/html"}))
    client = LabelStudioClient(http_server.url + path, PAT)

    with pytest.raises(ParameterError, match="is not a Label Studio server") as info:
        client.check_credentials()

    assert "the address of the Label Studio server" in str(info.value)
    assert "http://localhost:8080" in str(info.value)
    if suggestion:
        assert suggestion in str(info.value)
    assert http_server.count("POST", REFRESH) == 0  # nothing sent with the key
