"""How long the Server Options page takes to compute and render, from cached data only.

A user in 3 and in 20 groups; a catalog of 60 instance types, 120 images and 200 datasets;
each group grants a share of them. Prints the page size, the time per full form (menu +
template, as `PrimeHubSpawner.get_options_form` does it), the time of the model alone
(`menu.build_menu`) and per start check (validate_user_options + make_pod_overrides), and
the memory the grants cache keeps. The page shows one group, so its size and time follow
what that group offers, not the number of groups. No network is involved: that is the
point of the watch cache and the entitlements in auth_state. Each round reads the
entitlements anew from their JSON, as the spawner does from auth_state.

    .venv/bin/python benchmarks/bench_form.py
"""
from __future__ import annotations

import json
import statistics
import time
import tracemalloc

from primehub_spawner.catalog import Catalog, parse_dataset, parse_image, parse_instance_type
from primehub_spawner.entitlements import Group, UserEntitlements
from primehub_spawner.form import make_form_view
from primehub_spawner.menu import build_menu
from primehub_spawner.options import validate_user_options
from primehub_spawner.podspec import PodSettings, make_pod_overrides
from primehub_spawner.roles import grants_of
from primehub_spawner.spawner import _form_template


def cr(name, spec, annotations=None):
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}


def build(groups=20, instance_types=60, images=120, datasets=200):
    its = {f"it-{i}": parse_instance_type(cr(f"it-{i}", {
        "displayName": f"Size {i}", "limits.cpu": 1 + i % 8, "limits.memory": f"{1 + i % 16}G",
        **({"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"} if i % 5 == 0 else {})}))
        for i in range(instance_types)}
    imgs = {f"img-{i}": parse_image(cr(f"img-{i}", {
        "displayName": f"Image {i}", "type": ("cpu", "gpu", "both")[i % 3],
        "url": f"registry.example/img:{i}"})) for i in range(images)}
    dss = {f"ds-{i}": parse_dataset(cr(f"ds-{i}", {
        "displayName": f"Data {i}", "type": "pv", "volumeName": f"v{i}"},
        {"dataset.primehub.io/launchGroupOnly": "true"} if i % 4 == 0 else None))
        for i in range(datasets)}
    catalog = Catalog(instance_types=its, images=imgs, datasets=dss)
    user_groups = tuple(Group(id=f"g{g}", name=f"group-{g}", roles=tuple(
        [f"it:it-{i}" for i in range(g, instance_types, 7)]
        + [f"img:img-{i}" for i in range(g, images, 5)]
        + [f"ds:ds-{i}" for i in range(g, datasets, 9)]
        + [f"ds:rw:ds-{i}" for i in range(g, datasets, 27)]),
        attributes={"displayName": f"Group {g}", "quota-cpu": "16", "quota-memory": "64G"})
        for g in range(groups))
    everyone = Group(id="e", name="everyone", roles=("it:it-1", "img:img-1", "ds:ds-1"))
    entitlements = UserEntitlements(username="alice", user_id="u", groups=user_groups,
                                     everyone=everyone, fetched_at=time.time())
    return catalog, entitlements


def timed(fn, rounds):
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main():
    for groups in (3, 20):
        measure(groups)


def measure(groups):
    catalog, entitlements = build(groups=groups)
    stored = json.dumps(entitlements.to_json())
    template = _form_template("")

    def read():
        return UserEntitlements.from_json(json.loads(stored))

    def render():
        view = make_form_view(read(), catalog, preselect={"group": "group-1"})
        return template.render(view=view, get_url="/hub/spawn")

    def model():
        build_menu(read(), catalog, {"group": "group-1"})

    def start_check():
        user = read()
        choice = validate_user_options({"group": "group-1"}, user, catalog)
        make_pod_overrides(choice, user, PodSettings(pvc_name="claim-alice"))

    grants_of.cache_clear()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    html = render()
    kept = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename")
               if s.traceback[0].filename.endswith("roles.py"))
    tracemalloc.stop()
    print(f"user in {groups} groups; catalog of 60 instance types, 120 images, 200 datasets")
    print(f"  form HTML {len(html) / 1024:.0f} KiB")
    median, worst = timed(render, 50)
    print(f"  form render (menu + template): median {median:.1f} ms, max {worst:.1f} ms over 50")
    median, worst = timed(model, 200)
    print(f"  menu model alone (build_menu): median {median:.2f} ms, max {worst:.2f} ms over 200")
    median, worst = timed(start_check, 200)
    print(f"  start check (validate + pod overrides): median {median:.2f} ms, max {worst:.2f} ms over 200")
    entries = grants_of.cache_info().currsize
    print(f"  grants cache: {entries} groups parsed once, {kept / 1024:.0f} KiB kept "
          "(shared by every user of those groups)")


if __name__ == "__main__":
    main()
