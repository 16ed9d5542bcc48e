"""The HTTP error both glue modules raise: a status and a sentence JupyterHub shows as is.

Its own module so that the authenticator and the spawner share it without importing each
other, and so that the pure modules (which raise their own exceptions) never import tornado.
"""
from __future__ import annotations

from tornado import web


def refusal(status: int, sentence: str) -> web.HTTPError:
    """An HTTPError whose sentence JupyterHub shows as is, on the form and in the API."""
    error = web.HTTPError(status, sentence)
    error.jupyterhub_message = sentence
    return error
