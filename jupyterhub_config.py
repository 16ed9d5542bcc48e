"""Example JupyterHub configuration for primehub_spawner, for a hub running in Kubernetes.

Copy it, change the URLs and secrets, and run `jupyterhub -f jupyterhub_config.py`.
Secrets come from the environment (e.g. a Kubernetes Secret mounted as env vars):
  JUPYTERHUB_CRYPT_KEY       encrypts auth_state, where entitlements are kept (required)
  KEYCLOAK_CLIENT_SECRET     secret of the confidential OIDC client `jupyterhub`
Idle servers are stopped by jupyterhub-idle-culler (`pip install jupyterhub-idle-culler`
beside the hub; the z2jh hub image has it).
"""
import os
import sys

c = get_config()

# -- The two plugin classes (entry point name `primehub` in both groups) -------------------
c.JupyterHub.authenticator_class = "primehub"
c.JupyterHub.spawner_class = "primehub"

# -- Keycloak ---------------------------------------------------------------------------------
# Base URL as the hub reaches it (server to server), and as browsers reach it.
c.PrimeHubAuthenticator.keycloak_url = os.environ.get("KEYCLOAK_URL", "http://keycloak.hub.svc:8080")
c.PrimeHubAuthenticator.keycloak_public_url = os.environ.get("KEYCLOAK_PUBLIC_URL", "https://id.example.org")
c.PrimeHubAuthenticator.realm = "primehub"
c.PrimeHubAuthenticator.client_id = "jupyterhub"
c.PrimeHubAuthenticator.client_secret = os.environ.get("KEYCLOAK_CLIENT_SECRET", "")
c.PrimeHubAuthenticator.oauth_callback_url = "https://hub.example.org/hub/oauth_callback"
# The client's service account reads groups and roles; another client may be used instead:
# c.PrimeHubAuthenticator.admin_client_id = "jupyterhub-admin"
# c.PrimeHubAuthenticator.admin_client_secret = os.environ["KEYCLOAK_ADMIN_CLIENT_SECRET"]
c.PrimeHubAuthenticator.everyone_group = "everyone"
# Who is a hub admin: this client role of realm-management (PrimeHub's convention).
c.PrimeHubAuthenticator.admin_role = "realm-admin"
# Only these realm roles may log in (empty: every user of the realm).
# c.PrimeHubAuthenticator.allowed_roles = {"jupyterhub-user"}
# Menus may show entitlements this old (seconds); starts always re-read them.
c.PrimeHubAuthenticator.entitlements_max_age = 300
# A group's roles and attributes may be shared between users for this long (seconds).
c.PrimeHubAuthenticator.group_cache_max_age = 30

# -- Kubernetes -------------------------------------------------------------------------------
c.KubeSpawner.namespace = "hub"
# InstanceType, Image and Dataset objects live here (default: the spawner's namespace).
c.PrimeHubSpawner.catalog_namespace = "hub"
# Several clusters sharing one realm: only roles like `c1:it:cpu-1` count.
# c.PrimeHubSpawner.role_prefix = "c1"
c.PrimeHubSpawner.dataset_mount_root = "/datasets"
c.PrimeHubSpawner.project_root = "/project"
c.PrimeHubSpawner.default_home_size = "20G"
c.KubeSpawner.storage_class = os.environ.get("HOME_STORAGE_CLASS") or None
# The image used when a request names none is the group's first; this is only a fallback.
c.KubeSpawner.image = "jupyter/base-notebook:latest"

# -- The hub ----------------------------------------------------------------------------------
c.JupyterHub.template_paths = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")]
c.JupyterHub.hub_ip = "0.0.0.0"

# -- Idle culling -----------------------------------------------------------------------------
# Stop servers idle for an hour (a GPU left running is the most expensive mistake), checked
# every 5 minutes. The culler runs as a service the hub starts, with a role that lets it
# list users, read their activity and servers, and stop servers: nothing more.
c.JupyterHub.load_roles = [{
    "name": "jupyterhub-idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["jupyterhub-idle-culler"],
}]
c.JupyterHub.services = [{
    "name": "jupyterhub-idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                "--timeout=3600", "--cull-every=300"],
}]
