"""The devstack's local kubelet: two Nodes whose "containers" are local processes.

There is no container runtime on this machine, so one small process of ours plays the
kubelet of a CPU node and a GPU node shaped like a PrimeHub cluster (`nodes.py`). The real
kube-scheduler decides where each pod goes; this kubelet runs only the pods it bound to one
of those nodes:

- `nodes.py`      the two node shapes and their Node objects and status (pure)
- `heartbeat.py`  registers the nodes, heartbeats their Ready condition and Leases
- `env.py`        the container's environment and command line (pure)
- `images.py`     image pulls: none, but a registry under `.invalid` fails as on a real node
- `status.py`     the pod and container statuses it reports (pure)
- `runtime.py`    loopback addresses, the pod's process, its record on disk
- `pods.py`       one worker per pod: start, report, stop, delete
- `api.py`        the API calls they share: JSON bodies, status patches, events

A bound pod's container named `notebook` (else the first one) runs as a local process in
its own session on its own loopback address 127.0.x.y (`status.podIP`), with the
container's env, in `.devstack/pods/<pod>` (also HOME), output in
`.devstack/logs/pod-<pod>.log`. Volumes are recorded, not mounted; images are not pulled
(an image whose registry host is under `.invalid` fails to pull, with a real kubelet's
events, and its pod stays Pending); other containers and init containers are not run;
restartPolicy is not honoured.

    python -m devstack.kubelet --kubeconfig .devstack/kube/kubelet.kubeconfig --namespace hub
"""
