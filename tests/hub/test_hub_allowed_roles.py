"""`PrimeHubAuthenticator.allowed_roles`, set in the hub's configuration (DESIGN §6): only
users holding one of the roles, directly or through a group, may log in."""
from doubles import FakeOIDC
from jupyterhub import orm

ALLOWED = "jupyterhub-user"


def hub_config(c, edge):
    FakeOIDC.configure(c)
    c.PrimeHubAuthenticator.allowed_roles = {ALLOWED}


def test_allowed_roles_turn_allow_all_off(hub):
    # JupyterHub asks check_allowed only when allow_all is False.
    assert hub.authenticator.allow_all is False


async def test_user_without_the_role_is_refused_with_a_sentence(hub, keycloak_login):
    _browser, r = await keycloak_login("alice", expect=403)
    assert ("Your Keycloak account holds none of the roles allowed to use this hub "
            f"({ALLOWED}); ask an administrator.") in r.text
    assert orm.User.find(hub.db, "alice") is None


async def test_role_held_directly_lets_the_user_in(hub, keycloak_login, edge):
    edge.keycloak.users["alice"]["roles"].add(ALLOWED)
    await keycloak_login("alice")
    assert (await hub.users["alice"].get_auth_state())["allowed_roles_held"] == [ALLOWED]


async def test_role_held_through_a_group_lets_the_user_in(hub, keycloak_login, edge):
    group = edge.keycloak.groups["class-101"]
    edge.keycloak.add_group("class-101", [*group.roles, ALLOWED], **group.attributes)
    await keycloak_login("bob")
    assert orm.User.find(hub.db, "bob") is not None


async def test_losing_the_role_requires_a_new_login(hub, keycloak_login, edge):
    edge.keycloak.users["alice"]["roles"].add(ALLOWED)
    await keycloak_login("alice")
    user = hub.users["alice"]
    assert isinstance(await hub.authenticator.refresh_user(user), dict)
    edge.keycloak.users["alice"]["roles"].discard(ALLOWED)
    assert await hub.authenticator.refresh_user(user) is False
