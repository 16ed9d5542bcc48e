"""Write the settings table of README.md from the settings themselves.

    python scripts/settings_table.py --write    # after adding or changing a setting
    python scripts/settings_table.py --check    # exit 1 when README.md's table is out of date

The help texts are the source: a row is a setting of `PrimeHubAuthenticator` or
`PrimeHubSpawner` (their own configurable traits, and the inherited ones whose default they
change with a `@default` method), its default, and the first paragraph of its help (the
first sentence for an inherited setting, whose help is JupyterHub's or KubeSpawner's). A
default computed by a `@default` method is shown by that method's docstring, which says in a
few words what the default is.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from traitlets import DefaultHandler, TraitType

# The repository root, so the script runs from anywhere without an install.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from primehub_spawner.authenticator import PrimeHubAuthenticator
from primehub_spawner.spawner import PrimeHubSpawner

README = ROOT / "README.md"
BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"
CLASSES = (PrimeHubAuthenticator, PrimeHubSpawner)


class TableError(Exception):
    """The table cannot be written: a setting lacks what it needs, or README lacks markers."""


def _first_paragraph(text: str) -> str:
    return " ".join(re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].split())


def _first_sentence(text: str) -> str:
    paragraph = _first_paragraph(text)
    # Sphinx markup of the upstream help texts: :attr:`x` and `link text`_ read as `x`.
    paragraph = re.sub(r":\w+:`([^`]*)`", r"`\1`", paragraph)
    paragraph = re.sub(r"`([^`]*)`_", r"\1", paragraph)
    return re.split(r"(?<=\.)\s+(?=[A-Z])", paragraph, maxsplit=1)[0]


def _static_default(trait: TraitType) -> str:
    value = trait.default()
    if value in ("", None) or (isinstance(value, (set, list, dict, tuple)) and not value):
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def setting_rows(cls: type) -> list[tuple[str, str, str]]:
    """(setting, default, what it does) for each setting of `cls`, in the order of its
    source: its own configurable traits, and inherited ones given a default here."""
    own_defaults = {handler.trait_name: (name, handler) for name, handler in vars(cls).items()
                    if isinstance(handler, DefaultHandler)}
    traits = cls.class_traits(config=True)
    rows = []
    # The class body in source order (class_own_traits sorts by name): a trait defined here,
    # or a @default method of an inherited trait, places a row.
    for attribute, value in vars(cls).items():
        if isinstance(value, TraitType) and value.metadata.get("config"):
            name, inherited = attribute, False
        elif isinstance(value, DefaultHandler) and value.trait_name not in vars(cls):
            name, inherited = value.trait_name, True
            if name not in traits:
                continue  # a default of a trait that is not a setting
        else:
            continue
        trait = traits[name]
        if name in own_defaults:
            method, handler = own_defaults[name]
            if not (handler.func.__doc__ or "").strip():
                raise TableError(f"{cls.__name__}.{method} has no docstring; it is the default "
                                 f"column of {name} in README's settings table, so say in a "
                                 "few words what the default is.")
            default = _first_paragraph(handler.func.__doc__)
        else:
            default = _static_default(trait)
        if not (trait.help or "").strip():
            raise TableError(f"{cls.__name__}.{name} has no help text; write one.")
        if inherited:
            what = (f"{_first_sentence(trait.help)} *({trait.this_class.__name__}'s setting; "
                    "the default is ours.)*")
        else:
            what = _first_paragraph(trait.help)
        rows.append((f"`{cls.__name__}.{name}`", default, what))
    return rows


def make_table(classes: tuple[type, ...] = CLASSES) -> str:
    """The Markdown table of every setting of `classes` (by default, both of the plugin)."""
    lines = ["| setting | default | what it does |", "|---|---|---|"]
    for cls in classes:
        for row in setting_rows(cls):
            lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def with_table(readme: str, table: str) -> str:
    """`readme` with the text between the settings-table markers replaced by `table`."""
    begin, end = readme.find(BEGIN), readme.find(END)
    if begin < 0 or end < begin:
        raise TableError(f"README.md needs the lines {BEGIN} and {END}, in that order, around "
                         "the settings table.")
    return readme[:begin + len(BEGIN)] + "\n" + table + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when README.md's table differs from the settings")
    parser.add_argument("--readme", type=Path, default=README, help="the README to use")
    args = parser.parse_args(argv)
    try:
        readme = args.readme.read_text()
        updated = with_table(readme, make_table())
    except TableError as e:
        print(e, file=sys.stderr)
        return 2
    if args.check:
        if updated != readme:
            print(f"{args.readme}: the settings table is out of date; run "
                  "python scripts/settings_table.py --write", file=sys.stderr)
            return 1
        return 0
    if updated != readme:
        args.readme.write_text(updated)
        print(f"{args.readme}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
