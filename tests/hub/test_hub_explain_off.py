"""`PrimeHubAuthenticator.explain_page = False`: the hub has no admins' explain page."""
from doubles import FakeOIDC


def hub_config(c, edge):
    FakeOIDC.configure(c)
    c.PrimeHubAuthenticator.explain_page = False


async def test_the_page_is_not_there(hub, keycloak_login):
    admin, _ = await keycloak_login("phadmin")
    assert hub.users["phadmin"].admin is True
    r = await admin.get("/hub/primehub/explain", params={"user": "alice"})
    assert r.status_code == 404
    # The authenticator's own pages are still served.
    r = await admin.get("/hub/oauth_login")
    assert r.status_code == 302
