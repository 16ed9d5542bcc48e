"""A bounded fuzz of the start paths on the real stack: random bodies at
`POST /hub/api/users/<u>/server` (alice and phadmin, each with their own token) and random
form posts at `/hub/spawn` (bob, logged in, with the page's XSRF token), side by side.

Bodies come from a seeded generator (PRIMEHUB_FUZZ_SEED, default 8): any JSON shape, long
strings, unicode, newlines, NUL, nested objects, huge numbers, wrong types, and plausible
names of groups and resources, granted and not. Most are invalid, so the run is fast; an
accepted one starts a real server, which is stopped before the next body.

Asserted: no 5xx but the designed 503, and nothing left in the hub namespace by a refusal
(no pod; no PVC but the home PVC of a user whose start was accepted). Printed: one line
with the counts.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field

import httpx
import pytest

from primehub_spawner.names import shown

from .faults_util import absent, claim_path, delete, eventually, fresh_login, names, stop_if_running
from .hub_client import HUB, get, post_form, stop_server, wait_server

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

SEED = int(os.environ.get("PRIMEHUB_FUZZ_SEED", "8"))
REST_USERS = ("alice", "phadmin")
REST_BODIES = 150  # per REST user
FORM_BODIES = 100
BODIES = REST_BODIES * len(REST_USERS) + FORM_BODIES
# The property tests of the unit tier try many more shapes against the same checks; these
# bodies go through the real hub, form and REST. A bound on all loops together, well above
# their time (1,200 bodies took 93 s, 1,971 took 300 s under CI's load), so that a slow hub
# fails the count, never hangs.
BUDGET = 240

GROUPS = ["research", "class-101", "everyone", "empty-group", "Research", "research\n",
          " research", "research/", "../research", "Research Lab", "class_101", "CLASS-101",
          "/research", "research%00", "研究", "r" * 300]
INSTANCE_TYPES = ["cpu-1", "cpu-2", "gpu-small", "legacy-gpu", "broken-size", "CPU-1",
                  "cpu-1\n", "cpu-1 ", "cpu_1", "cpu-2/../cpu-1", "gpu-small\x00", "x" * 254]
IMAGES = ["base-notebook", "pytorch", "tf-gpu", "research-image", "private-image",
          "building-image", "base-notebook\n", "Base Notebook", "pytorch:latest", "img:pytorch"]
VALID = {"group": {"research", "class-101"},
         "instance_type": {"cpu-1", "cpu-2", "gpu-small", "legacy-gpu"},
         "image": {"base-notebook", "pytorch", "tf-gpu", "research-image", "private-image"}}
PLAUSIBLE = {"group": GROUPS, "instance_type": INSTANCE_TYPES, "image": IMAGES}
ENV_NAMES = ["MY_SETTING", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "LD_PRELOAD",
             "PRIMEHUB_USER", "TZ", "X\n", "1X", "", "A B", "é", "PATH", "a" * 5000, "ok_name"]
KEYS = ("group", "instance_type", "image", "safe_mode", "env")


class Bodies:
    """Random bodies from one seed; `weird()` is any JSON value, the rest aim at the
    contract's keys."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def text(self) -> str:
        r = self.r
        pick = r.random()
        if pick < 0.3:
            return r.choice(GROUPS + INSTANCE_TYPES + IMAGES + ENV_NAMES)
        if pick < 0.6:
            return "".join(chr(r.choice([r.randint(32, 126), r.randint(0xA0, 0x2FFF),
                                         r.randint(0x1F300, 0x1F6FF), 10, 0]))
                           for _ in range(r.randint(0, 40)))
        if pick < 0.75:
            return r.choice("ab\n\x00{}$é") * r.randint(1_000, 100_000)
        return r.choice(["", " ", "\n", "null", "true", "{}", "{username}", "$(id)", "\u202e"])

    def number(self):
        return self.r.choice([0, -1, 1, 2**63, -(2**63) - 1, 10**400, 1e308, -0.0, 0.5,
                              float("nan"), float("inf")])

    def weird(self, depth: int = 0):
        r = self.r
        pick = r.random() if depth < 4 else r.random() * 0.6
        if pick < 0.15:
            return None
        if pick < 0.25:
            return r.choice([True, False])
        if pick < 0.4:
            return self.number()
        if pick < 0.6:
            return self.text()
        if pick < 0.8:
            return [self.weird(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.text()[:50]: self.weird(depth + 1) for _ in range(r.randint(0, 4))}

    def name(self, key: str):
        r = self.r
        pick = r.random()
        if pick < 0.05:
            return r.choice(sorted(VALID[key]))
        if pick < 0.8:
            return r.choice(PLAUSIBLE[key])
        return self.weird(1)

    def env(self):
        r = self.r
        if r.random() < 0.3:
            return self.weird(1)
        return {r.choice(ENV_NAMES) if r.random() < 0.7 else self.text():
                (self.text() if r.random() < 0.8 else self.weird(2))
                for _ in range(r.randint(0, 3))}

    def body(self):
        r = self.r
        if r.random() < 0.03:  # JupyterHub reads a falsy body as {}: the defaults
            return self.weird()
        body = {}
        for key in KEYS:
            if r.random() < 0.9:
                if key == "safe_mode":
                    body[key] = r.choice([True, False, "true", "on", 1, 0, None, [], {}])
                elif key == "env":
                    body[key] = self.env()
                else:
                    body[key] = self.name(key)
        if r.random() < 0.15:
            body[self.text()[:100]] = self.weird(1)
        return body

    def _form_value(self, key: str) -> str:
        if key in VALID and self.r.random() < 0.8:
            value = self.name(key)
            return value if isinstance(value, str) else json.dumps(value)
        return self.text()

    def form(self) -> list[tuple[str, str]]:
        """Form fields: the form's names (repeated, missing, odd) and others."""
        r = self.r
        names_ = ["group", "instance_type", "image", "safe_mode", "env_name", "env_value",
                  "ph_show", "autolaunch"]
        fields = [(key, self._form_value(key)) for key in ("group", "instance_type", "image")
                  if r.random() < 0.95]
        for _ in range(r.randint(0, 4)):
            key = r.choice(names_) if r.random() < 0.85 else self.text()[:60]
            fields.append((key, self._form_value(key)))
        r.shuffle(fields)
        return fields


@dataclass
class Tally:
    bodies: int = 0
    accepted: int = 0
    refused: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)
    failed_after_accept: list[str] = field(default_factory=list)
    started_users: set = field(default_factory=set)

    def count(self, status: int, what: str, accepted: bool) -> None:
        self.bodies += 1
        if accepted:
            self.accepted += 1
        elif status == 503:
            self.unavailable += 1
        elif 400 <= status < 500:
            self.refused += 1
        else:
            self.errors.append(f"HTTP {status} for {what}")


async def _run_rest(user: str, bodies: Bodies, tally: Tally, token: str,
                    deadline: float) -> None:
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"token {token}"}) as c:
        for _ in range(REST_BODIES):
            if time.monotonic() > deadline:
                break
            body = bodies.body()
            content = json.dumps(body)
            response = await c.post(f"{HUB}/hub/api/users/{user}/server", content=content,
                                    headers={"Content-Type": "application/json"})
            accepted = response.status_code in (201, 202)
            tally.count(response.status_code, f"POST {shown(content, 300)}", accepted)
            if accepted:
                await _stop_after_accept(user, tally, content)


async def _run_form(bodies: Bodies, tally: Tally, client, deadline: float) -> None:
    page = (await get(client, "/hub/spawn")).text
    for _ in range(FORM_BODIES):
        if time.monotonic() > deadline:
            break
        fields = bodies.form()
        response = await post_form(client, page, fields)
        accepted = response.status_code == 302
        tally.count(response.status_code, f"form {shown(fields, 300)}", accepted)
        if accepted:
            await _stop_after_accept("bob", tally, repr(fields))
            page = (await get(client, "/hub/spawn")).text


async def _stop_after_accept(user: str, tally: Tally, what: str) -> None:
    tally.started_users.add(user)
    try:
        await wait_server(user, timeout=90)
    except AssertionError as e:  # accepted, then failed: a defect worth its own line
        tally.failed_after_accept.append(f"accepted, then failed ({shown(str(e), 300)}): {shown(what, 300)}")
    await stop_server(user)


async def test_random_start_bodies_get_4xx_sentences_and_leave_nothing():
    # New spawners, and no home PVCs: a refusal that made one would show.
    users = (*REST_USERS, "bob")
    for user in users:
        await stop_if_running(user)
    tokens = {user: (await fresh_login(user))[1] for user in REST_USERS}
    bob, _ = await fresh_login("bob")
    for user in users:
        await delete(claim_path(f"claim-{user}"))
        await eventually(lambda u=user: absent(claim_path(f"claim-{u}")), 30, "no home PVC")
    pods_before = await names("pods")
    claims_before = await names("persistentvolumeclaims")
    rests = [Tally() for _ in REST_USERS]
    form = Tally()
    began = time.monotonic()
    deadline = began + BUDGET
    await asyncio.gather(
        *(_run_rest(user, Bodies(SEED + i), tally, tokens[user], deadline)
          for i, (user, tally) in enumerate(zip(REST_USERS, rests))),
        _run_form(Bodies(SEED + len(REST_USERS)), form, bob, deadline))
    took = time.monotonic() - began
    tallies = [*rests, form]
    started = set().union(*(t.started_users for t in tallies))
    left = (await names("pods") - pods_before) | (
        await names("persistentvolumeclaims") - claims_before - {f"claim-{u}" for u in started})
    total = Tally(bodies=sum(t.bodies for t in tallies),
                  accepted=sum(t.accepted for t in tallies),
                  refused=sum(t.refused for t in tallies),
                  unavailable=sum(t.unavailable for t in tallies),
                  errors=[e for t in tallies for e in t.errors],
                  failed_after_accept=[e for t in tallies for e in t.failed_after_accept])
    print(f"\nfuzz: {total.bodies} bodies, {total.accepted} accepted, {total.refused} refused "
          f"4xx, {total.unavailable} 503, {len(total.errors)} 5xx, {len(left)} left "
          f"(seed {SEED}, REST {sum(t.bodies for t in rests)}, form {form.bodies}, "
          f"{took:.0f}s)")
    assert total.bodies >= BODIES, f"only {total.bodies} bodies in {BUDGET}s"
    assert not total.errors, "\n".join(total.errors[:20])
    assert not total.failed_after_accept, "\n".join(total.failed_after_accept[:20])
    assert not left, left
