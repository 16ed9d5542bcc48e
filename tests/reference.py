"""Where the team's reference files (`shared/reference/`) are for this checkout.

shared/ lies beside the project's checkout. A `git worktree` belongs to a main checkout,
and a clone made from a local checkout (`git clone . /tmp/x/cold`) came from one: shared/
beside either counts too.
"""
from __future__ import annotations

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def checkouts() -> list[Path]:
    """This checkout, the main checkout of a worktree, and a local origin."""
    found = [REPO]
    git = REPO / ".git"
    if git.is_file():  # a worktree: `gitdir: <main>/.git/worktrees/<name>`
        gitdir = Path(git.read_text().split("gitdir:", 1)[1].strip())
        if gitdir.parent.name == "worktrees":
            found.append(gitdir.parent.parent.parent)
    elif git.is_dir():
        config = configparser.ConfigParser(strict=False)
        config.read(git / "config")
        origin = config.get('remote "origin"', "url", fallback="")
        if origin.startswith("/") and Path(origin).is_dir():
            found.append(Path(origin).resolve())
    return found


def reference_dirs(*parts: str) -> list[Path]:
    """`shared/reference/<parts>` beside each checkout that may have it, nearest first."""
    return [checkout.parent / "shared" / "reference" / Path(*parts) for checkout in checkouts()]
