"""The demo custom resources, read from devstack/demo-data.yaml: the one source that the
dev stack applies and that the unit and hub tests build their catalogs from."""
from __future__ import annotations

from pathlib import Path

import yaml

DEMO_DATA = Path(__file__).resolve().parent.parent / "devstack" / "demo-data.yaml"
KINDS = ("InstanceType", "Image", "Dataset")


def demo_objects(kinds: tuple[str, ...] = KINDS) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(DEMO_DATA.read_text())
            if doc and doc.get("kind") in kinds]
