"""The local development stack: real etcd, kube-apiserver, Keycloak and JupyterHub on
loopback, plus a small local kubelet. Used by `make demo`, `make up` and the tests."""
