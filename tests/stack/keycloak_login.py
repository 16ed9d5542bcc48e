"""Log in through Keycloak's login page with plain HTTP, no browser.

    response = await keycloak_form_login(client, "http://127.0.0.1:18000/hub/oauth_login",
                                         "alice", "alice-pass")

follows the redirects from `start_url` to the Keycloak login form, fills in and posts it,
then follows the redirects again (back to the application, which sets its cookies in
`client`) and returns the last response. With `stop_at`, it returns the first redirect
whose Location starts with that prefix instead of following it: the way to read the
authorization `code` when nothing listens at the redirect URI.
"""
from __future__ import annotations

import http.cookiejar
import ipaddress
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = ["KeycloakLoginError", "LoopbackIsSecure", "keycloak_form_login", "loopback_request",
           "parse_forms"]


class KeycloakLoginError(AssertionError):
    """The login did not get past Keycloak's pages; the message says where it stopped."""


class LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Send `Secure` cookies to http://127.0.0.1 and http://localhost, as browsers do.

    Keycloak 26 counts loopback addresses as a secure context and marks its login cookies
    Secure (SameSite=None) even over plain HTTP; Python's cookie jar would never send them
    back, and Keycloak would answer the form with "cookie not found".
    """

    def return_ok_secure(self, cookie, request):
        if cookie.secure and request.type == "http" and _is_loopback(request.host):
            return True
        return super().return_ok_secure(cookie, request)


def _is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def loopback_request(client: httpx.AsyncClient, method: str, url: str,
                     **kwargs) -> httpx.Request:
    """client.build_request, with the client's cookies chosen by LoopbackIsSecure (httpx
    copies its jar into one with the default policy when it builds a request). Send it with
    `client.send(request)` for any later request to Keycloak that needs its session cookies
    (the end-session endpoint, say)."""
    request = client.build_request(method, url, **kwargs)
    cookies = httpx.Cookies()
    cookies.jar.set_policy(LoopbackIsSecure())
    for cookie in client.cookies.jar:
        cookies.jar.set_cookie(cookie)
    request.headers.pop("cookie", None)
    cookies.set_cookie_header(request)
    return request


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.errors: list[str] = []
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"id": a.get("id", ""), "action": a.get("action", ""),
                               "method": a.get("method", "get").lower(), "inputs": {}})
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type", "text").lower() in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1]["inputs"][a["name"]] = a.get("value", "")
        elif tag == "title":
            self._in = "title"
        elif tag in ("span", "div") and ("input-error" in a.get("id", "")
                                         or "alert-error" in a.get("class", "")):
            self._in = "error"

    def handle_endtag(self, tag):
        if tag in ("title", "span", "div"):
            self._in = None

    def handle_data(self, data):
        text = data.strip()
        if not text:
            return
        if self._in == "title":
            self.title += text
        elif self._in == "error":
            self.errors.append(text)


def parse_forms(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def _login_form(page: _Forms) -> dict | None:
    for form in page.forms:
        if form["id"] == "kc-form-login" or "password" in form["inputs"]:
            return form
    return None


async def _follow(client: httpx.AsyncClient, request: httpx.Request, stop_at: str | None,
                  max_hops: int) -> httpx.Response:
    for _ in range(max_hops):
        response = await client.send(request, follow_redirects=False)
        if not response.is_redirect:
            return response
        location = urljoin(str(response.url), response.headers["location"])
        if stop_at is not None and location.startswith(stop_at):
            return response
        request = loopback_request(client, "GET", location)
    raise KeycloakLoginError(f"more than {max_hops} redirects, last to {request.url}")


async def keycloak_form_login(client: httpx.AsyncClient, start_url: str, username: str,
                              password: str, *, stop_at: str | None = None,
                              max_hops: int = 20) -> httpx.Response:
    """Follow redirects from start_url, submit Keycloak's login form, return the final
    response (or, with stop_at, the redirect to a URL starting with stop_at).

    The requests made here send `client`'s Secure cookies to loopback hosts over http, as
    browsers do (see LoopbackIsSecure); `client` itself is not changed, but keeps the
    cookies it received (Keycloak's session, the application's). With a Keycloak session
    already in `client`, Keycloak skips the form (single sign-on) and so does this.

    Raises KeycloakLoginError when the page after the form is still a Keycloak page (wrong
    password, a required action, an error page), or when no login form was found.
    """
    first = loopback_request(client, "GET", start_url)
    response = await _follow(client, first, stop_at, max_hops)
    if response.is_redirect:  # stopped at stop_at: single sign-on, no form to fill in
        return response
    page = parse_forms(response.text)
    form = _login_form(page)
    if form is None:
        raise KeycloakLoginError(
            f"no Keycloak login form at {response.url} (HTTP {response.status_code}, "
            f"title {page.title!r}, errors {page.errors}): {response.text[:500]}")
    data = {**form["inputs"], "username": username, "password": password}
    action = urljoin(str(response.url), form["action"])
    response = await _follow(client, loopback_request(client, "POST", action, data=data),
                             stop_at, max_hops)
    keycloak = action.split("/login-actions/")[0]  # .../realms/<realm>
    if not response.is_redirect and str(response.url).startswith(keycloak):
        page = parse_forms(response.text)
        raise KeycloakLoginError(
            f"Keycloak did not let {username} in: HTTP {response.status_code} at "
            f"{response.url}, title {page.title!r}, errors {page.errors}, "
            f"forms {[f['id'] for f in page.forms]}")
    return response
