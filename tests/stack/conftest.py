"""Fixtures of the real-stack tier: etcd, kube-apiserver, the local kubelet, Keycloak and
JupyterHub with configurable-http-proxy, all real, on loopback.

The session fixture `stack` lives in tests/conftest.py, shared with the browser tier.
"""
