"""JupyterHub configuration of the local dev stack (`make demo`, `make up`, the tests).

The same plugin settings an operator writes (see the top-level jupyterhub_config.py), with
everything on loopback: Keycloak on 18080, the kube-apiserver on 16443 (reached with the
restricted `primehub-hub` credential, through KUBECONFIG), the proxy on 18000.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".devstack" / "hub"

c = get_config()

c.JupyterHub.authenticator_class = "primehub"
c.JupyterHub.spawner_class = "primehub"
c.JupyterHub.bind_url = "http://127.0.0.1:18000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:18081"
c.JupyterHub.hub_connect_url = "http://127.0.0.1:18081"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:18001"
c.ConfigurableHTTPProxy.command = [str(ROOT / "devstack/node_modules/.bin/configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.template_paths = [str(ROOT / "templates")]
c.JupyterHub.cleanup_servers = True

# An admin API token for scripts and tests (.devstack/env exports it).
c.JupyterHub.services = [{"name": "devstack", "api_token": (STATE / "api_token").read_text().strip()}]
c.JupyterHub.load_roles = [{"name": "admin", "services": ["devstack"]}]

# Idle servers are stopped by jupyterhub-idle-culler, as in the top-level example and the
# z2jh values: a service the hub starts, whose role lets it list users, read their activity
# and servers, and stop servers, nothing more. An hour idle, checked every 5 minutes; the
# environment may shorten both (tests/stack/test_idle_culler.py restarts the hub so).
CULL_TIMEOUT = int(os.environ.get("PRIMEHUB_CULL_TIMEOUT", "3600"))
CULL_EVERY = int(os.environ.get("PRIMEHUB_CULL_EVERY", "300"))
c.JupyterHub.services.append({
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={CULL_TIMEOUT}", f"--cull-every={CULL_EVERY}"],
})
c.JupyterHub.load_roles.append({
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
})

c.PrimeHubAuthenticator.keycloak_url = "http://127.0.0.1:18080"
c.PrimeHubAuthenticator.realm = "primehub"
c.PrimeHubAuthenticator.client_id = "jupyterhub"
c.PrimeHubAuthenticator.client_secret = "jupyterhub-demo-secret"
c.PrimeHubAuthenticator.oauth_callback_url = "http://127.0.0.1:18000/hub/oauth_callback"
# Short, so that a role mapped in the demo (or by the tests) shows within seconds.
c.PrimeHubAuthenticator.group_cache_max_age = float(os.environ.get("PRIMEHUB_GROUP_CACHE_MAX_AGE", "2"))

c.KubeSpawner.namespace = "hub"
c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.http_timeout = 60
