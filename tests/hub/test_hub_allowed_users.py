"""`allowed_users` and `allowed_groups` on PrimeHubAuthenticator (issue 8 item 3): each one
alone turns `allow_all` off, so it is obeyed; allow settings add up, as in JupyterHub."""
from doubles import FakeOIDC
from jupyterhub import orm


def hub_config(c, edge):
    FakeOIDC.configure(c)
    c.PrimeHubAuthenticator.allowed_users = {"bob"}
    c.PrimeHubAuthenticator.allowed_groups = {"research"}


def test_allow_settings_turn_allow_all_off(hub):
    assert hub.authenticator.allow_all is False


async def test_a_user_in_allowed_users_logs_in(hub, keycloak_login):
    await keycloak_login("bob")
    assert orm.User.find(hub.db, "bob") is not None


async def test_a_member_of_an_allowed_group_logs_in(hub, keycloak_login):
    await keycloak_login("alice")
    assert orm.User.find(hub.db, "alice") is not None


async def test_a_user_allowed_by_neither_is_refused(hub, keycloak_login):
    await keycloak_login("dave", expect=403)
    assert orm.User.find(hub.db, "dave") is None


async def test_leaving_the_allowed_group_requires_a_new_login(hub, keycloak_login, edge):
    await keycloak_login("alice")
    user = hub.users["alice"]
    assert isinstance(await hub.authenticator.refresh_user(user), dict)
    edge.keycloak.users["alice"]["groups"].remove("research")
    assert await hub.authenticator.refresh_user(user) is False
