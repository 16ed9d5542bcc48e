"""The versions the plugin allows are the versions it is tested on.

`make test` runs the unit and hub tiers in .venv (the newest allowed releases) and in
.venv-z2jh (constraints/z2jh-hub-image.txt: the Zero to JupyterHub hub image). The lower
bounds in setup.cfg are that image's versions, and the chart's own list agrees with ours
when it is at hand.
"""
import configparser
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.reference import reference_dirs

ROOT = Path(__file__).resolve().parents[2]
PINNED = ("jupyterhub", "jupyterhub-kubespawner", "oauthenticator")


def requirements() -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    found = [Requirement(line) for line in (x.strip() for x in lines)
             if line and not line.startswith("#")]
    return {r.name: r for r in found}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, pinned = line.split("==", 1)
            found[name.strip().lower()] = pinned.strip()
    return found


@pytest.mark.parametrize("name", PINNED)
def test_the_lower_bound_is_the_z2jh_hub_image(name):
    requirement = requirements()[name]
    lowest = min(Version(s.version) for s in requirement.specifier if s.operator == ">=")
    assert Version(pins(ROOT / "constraints/z2jh-hub-image.txt")[name]) == lowest


@pytest.mark.parametrize("name", PINNED)
def test_the_installed_version_is_allowed(name):
    assert requirements()[name].specifier.contains(version(name), prereleases=True)


def test_our_pins_agree_with_the_charts_own_list():
    chart = next((d / "hub-image-requirements.txt" for d in reference_dirs("z2jh")
                  if (d / "hub-image-requirements.txt").exists()), None)
    if chart is None:
        pytest.fail("shared/reference/z2jh/hub-image-requirements.txt is not beside this "
                    "checkout (nor its worktree's or local origin's)", pytrace=False)
    theirs = pins(chart)
    ours = pins(ROOT / "constraints/z2jh-hub-image.txt")
    assert {name: theirs.get(name) for name in ours} == ours
