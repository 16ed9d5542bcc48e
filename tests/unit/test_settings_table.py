"""README's settings table is generated from the settings' help (scripts/settings_table.py),
so a setting without a README line, or a help text changed without regenerating, fails here."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from traitlets import Bool, Float, Set, Unicode, default
from traitlets.config import Configurable

from primehub_spawner.authenticator import PrimeHubAuthenticator
from primehub_spawner.spawner import PrimeHubSpawner

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("settings_table",
                                               ROOT / "scripts" / "settings_table.py")
settings_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(settings_table)


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(settings_table.BEGIN)[1].split(settings_table.END)[0]
    assert table == "\n" + settings_table.make_table(), (
        "README.md's settings table is out of date: python scripts/settings_table.py --write")


@pytest.mark.parametrize("cls, inherited", [
    pytest.param(PrimeHubAuthenticator, "manage_groups", id="authenticator"),
    pytest.param(PrimeHubSpawner, "slug_scheme", id="spawner"),
])
def test_every_setting_of_ours_has_a_row(cls, inherited):
    # Found the other way round from the script: by name, not by walking the class body.
    # `_trait_default_generators` is traitlets' per-class record of @default methods (private;
    # the same on both venvs' traitlets, 5.15 and 5.16).
    ours = set(cls.class_own_traits(config=True))
    ours |= set(cls._trait_default_generators) & set(cls.class_traits(config=True))
    rows = {row[0] for row in settings_table.setting_rows(cls)}
    assert rows == {f"`{cls.__name__}.{name}`" for name in ours}
    assert f"`{cls.__name__}.{inherited}`" in rows


class Upstream(Configurable):
    inherited = Unicode(
        "theirs", config=True,
        help="""Where :attr:`other` sends the `access token`_ once. It does more.

        Details.""")
    untouched = Unicode(config=True, help="Not ours to show.")


class Ours(Upstream):
    text = Unicode("", config=True, help="Summary | with a pipe.\n\n    Details not shown.")
    flag = Bool(True, config=True, help="A switch.")
    seconds = Float(300, config=True, help="Seconds.")
    fraction = Float(0.5, config=True, help="A fraction.")
    roles = Set(Unicode(), config=True, help="Roles.")
    derived = Unicode(config=True, help="Derived.")
    internal = Unicode("x", help="Not a setting.")

    @default("derived")
    def _default_derived(self):
        """`text`, trimmed"""
        return self.text.strip()

    @default("inherited")
    def _default_inherited(self):
        """`ours`"""
        return "ours"


def test_rows_follow_the_class_body():
    assert settings_table.setting_rows(Ours) == [
        ("`Ours.text`", "empty", "Summary | with a pipe."),
        ("`Ours.flag`", "`True`", "A switch."),
        ("`Ours.seconds`", "`300`", "Seconds."),
        ("`Ours.fraction`", "`0.5`", "A fraction."),
        ("`Ours.roles`", "empty", "Roles."),
        ("`Ours.derived`", "`text`, trimmed", "Derived."),
        ("`Ours.inherited`", "`ours`", ("Where `other` sends the access token once. "
                                          "*(Upstream's setting; the default is ours.)*")),
    ]


def test_pipes_are_escaped_in_the_table():
    table = settings_table.make_table((Ours,))
    assert r"| `Ours.text` | empty | Summary \| with a pipe. |" in table.splitlines()


def test_a_computed_default_needs_a_docstring():
    class Bare(Ours):
        @default("flag")
        def _default_flag(self):
            return False

    with pytest.raises(settings_table.TableError, match=r"Bare._default_flag has no docstring"):
        settings_table.setting_rows(Bare)


def test_a_setting_needs_help():
    class Mute(Configurable):
        quiet = Unicode(config=True)

    with pytest.raises(settings_table.TableError, match=r"Mute.quiet has no help text"):
        settings_table.setting_rows(Mute)


def test_check_fails_on_a_stale_readme_and_write_mends_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    stale = ("# Settings\n\n" + settings_table.BEGIN + "\n| setting | default | what it does |\n"
             + settings_table.END + "\n\nAfter.\n")
    readme.write_text(stale)
    assert settings_table.main(["--check", "--readme", str(readme)]) == 1
    assert "the settings table is out of date" in capsys.readouterr().err
    assert readme.read_text() == stale
    assert settings_table.main(["--write", "--readme", str(readme)]) == 0
    assert settings_table.main(["--check", "--readme", str(readme)]) == 0
    assert readme.read_text() == ("# Settings\n\n" + settings_table.BEGIN + "\n"
                                  + settings_table.make_table() + settings_table.END
                                  + "\n\nAfter.\n")


def test_markers_are_required(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"{settings_table.END}\n{settings_table.BEGIN}\n")
    assert settings_table.main(["--write", "--readme", str(readme)]) == 2
    assert "README.md needs the lines" in capsys.readouterr().err
