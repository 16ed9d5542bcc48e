"""JupyterHub on Kubernetes, with who-may-launch-what decided in Keycloak (PrimeHub's model)."""
from ._version import __version__

__all__ = ["PrimeHubAuthenticator", "PrimeHubSpawner", "__version__"]


def __getattr__(name):
    # Imported lazily so the pure modules load without JupyterHub's heavy imports.
    if name == "PrimeHubSpawner":
        from .spawner import PrimeHubSpawner
        return PrimeHubSpawner
    if name == "PrimeHubAuthenticator":
        from .authenticator import PrimeHubAuthenticator
        return PrimeHubAuthenticator
    raise AttributeError(name)
