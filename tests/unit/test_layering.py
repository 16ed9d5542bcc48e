"""The package's layers, read from its source with `ast`: pure modules decide, I/O modules
talk, the glue (the authenticator and the spawner) joins them; nothing imports from a layer
above its own, and every public function of a pure module says what it does."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "primehub_spawner"

# Pure: no I/O imports, no awaits; plain arguments in, values or exceptions out.
PURE = ("_version", "names", "quantities", "labels", "roles", "catalog", "entitlements",
        "quota", "reservations", "options", "form", "podspec", "pending", "check", "explain",
        "menu", "deeplink")
# Talk to Keycloak, Kubernetes or the terminal; `errors` builds tornado's HTTPError.
IO = ("errors", "keycloak", "crd_cache", "keycloak_setup", "cli")
GLUE = ("authenticator", "spawner", "handlers")
# The package's entry points, which load the glue lazily.
TOP = ("__init__",)
LAYERS = {name: rank for rank, names in enumerate((PURE, IO, GLUE, TOP)) for name in names}

# Libraries that do I/O or belong to the hub: only the I/O modules and the glue use them.
IO_LIBRARIES = ("asyncio", "socket", "subprocess", "aiohttp", "httpx", "requests",
                "kubernetes", "kubernetes_asyncio", "tornado", "jupyterhub", "kubespawner",
                "oauthenticator", "keycloak")


def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(), filename=f"{module}.py")


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level names of other packages) that `module` imports,
    anywhere in it (a function's lazy import counts too)."""
    ours, theirs = set(), set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == PACKAGE.name:
                    ours.add(rest.partition(".")[0])
                else:
                    theirs.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top, _, rest = (node.module or "").partition(".")
                if top != PACKAGE.name:
                    theirs.add(top)
                    continue
            else:
                rest = node.module or ""
            if rest:
                ours.add(rest.partition(".")[0])
            else:  # from . import x
                ours.update(alias.name for alias in node.names)
    return ours, theirs - {"__future__"}


def _public_functions(module: str) -> dict[str, ast.AST]:
    """`name` or `Class.name` -> definition, for the public functions and the public methods
    of the public classes defined in `module`."""
    found = {}
    for node in _tree(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{member.name}"] = member
    return {name: node for name, node in found.items()
            if not name.rpartition(".")[2].startswith("_")}


def test_every_module_has_a_layer():
    modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    unplaced = [name for name in modules if name not in LAYERS]
    assert unplaced == [], (f"{', '.join(unplaced)}: add each to PURE, IO or GLUE in "
                            "tests/unit/test_layering.py")
    gone = sorted(set(LAYERS) - set(modules))
    assert gone == [], f"{', '.join(gone)}: no such module; remove it from its layer"


@pytest.mark.parametrize("module", sorted(LAYERS, key=LAYERS.get))
def test_no_module_imports_from_a_layer_above(module):
    ours, _ = _imports(module)
    above = sorted(name for name in ours if LAYERS.get(name, 0) > LAYERS[module])
    assert above == [], f"{module} imports from a layer above its own"


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_use_no_io_library(module):
    _, theirs = _imports(module)
    assert sorted(theirs & set(IO_LIBRARIES)) == [], f"{module} is pure: no I/O library"


def test_the_authenticator_and_the_spawner_do_not_import_each_other():
    assert "spawner" not in _imports("authenticator")[0]
    assert "authenticator" not in _imports("spawner")[0]
    # The authenticator serves the admins' page, so handlers must not import the spawner
    # either (it recognises PrimeHubSpawner by its `primehub_menu` marker).
    assert "handlers" in _imports("authenticator")[0]
    assert "spawner" not in _imports("handlers")[0]


@pytest.mark.parametrize("module", PURE)
def test_public_functions_of_pure_modules_have_docstrings(module):
    functions = _public_functions(module)
    missing = {name for name, node in functions.items() if not ast.get_docstring(node)}
    assert sorted(missing) == [], "give these a docstring"


def test_the_checks_see_what_they_check():
    # The readers find what the layers are made of, so that an empty answer means something.
    assert {"names", "quantities"} <= _imports("catalog")[0]
    assert "kubespawner" in _imports("spawner")[1]
    assert "keycloak" in _imports("cli")[1]  # python-keycloak, imported in a function
    assert "keycloak_setup" in _imports("cli")[0]  # from . import keycloak_setup
    assert {"InstanceType.has_gpu", "parse_dataset"} <= set(_public_functions("catalog"))
    assert not any(name.rpartition(".")[2].startswith("_")
                   for name in _public_functions("catalog"))
