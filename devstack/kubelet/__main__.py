"""`python -m devstack.kubelet`: register the nodes, then run the pods bound to them."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from kubernetes_asyncio import client, config

from . import __doc__ as overview
from .api import Reporter, call
from .heartbeat import NodeAgent
from .lifecycle import PodLifecycle
from .nodes import NODES
from .pods import PodWorkers
from .runtime import PODS_DIR, AddressPool

log = logging.getLogger("devstack.kubelet")


async def run(api: client.ApiClient, namespace: str, stopping: asyncio.Event) -> None:
    PODS_DIR.mkdir(parents=True, exist_ok=True)
    agent = NodeAgent(api, list(NODES.values()))
    lifecycle = PodLifecycle(Reporter(client.CoreV1Api(api), namespace), AddressPool())
    workers = PodWorkers(lifecycle, NODES)
    while True:
        try:
            await agent.register_all()
            # Addresses of pods already bound here (an earlier kubelet's) stay theirs.
            listing = await call(lifecycle.core.list_namespaced_pod, namespace)
            break
        except Exception as error:  # noqa: BLE001 - the API server may be starting
            log.warning("registering the nodes failed (%s); retrying", error)
            try:
                await asyncio.wait_for(stopping.wait(), 2)
                return
            except TimeoutError:
                pass
    for pod in listing["items"]:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and workers.ours(pod):
            lifecycle.addresses.claim(ip, pod["metadata"]["name"])
    tasks = [asyncio.create_task(agent.heartbeat(stopping)),
             asyncio.create_task(workers.watch(stopping))]
    await stopping.wait()
    log.info("stopping")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await workers.shutdown()


async def amain(args: argparse.Namespace) -> None:
    api = await config.new_client_from_config(config_file=args.kubeconfig)
    async with api:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await run(api, args.namespace, stopping)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.kubelet",
                                     description=overview.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="hub")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
