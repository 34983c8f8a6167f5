"""One registry per extension point, no cycles (issue 13 #3).

Importers, renderers and CEL engines each have closed enums and exhaustive factories in a
registry module, outside the interface module; the interface imports no implementation,
and nothing an implementation imports leads back to the registry or the package that
re-exports it. The imports are read from the source (an AST scan, lazy and
``TYPE_CHECKING`` imports included), since importing an interface module runs its
package's ``__init__``, which imports the registry.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import patchpolicy
from patchpolicy.expr import engines
from patchpolicy.expr.engines import EngineName, cel_expr_available, get_engine
from patchpolicy.expr.interface import Engine
from patchpolicy.importers import registry as importer_registry
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Importer
from patchpolicy.render import registry as render_registry
from patchpolicy.render.interface import Renderer
from patchpolicy.render.outputs import BundleOutput, CheckFormat

SRC = Path(patchpolicy.__file__).parent


@dataclass(frozen=True)
class Point:
    """One extension point: its package, interface, registry and base class."""

    package: str
    interface: str
    registry: str
    base: type


POINTS = {
    "importers": Point("patchpolicy.importers", "patchpolicy.importers.interface",
                       "patchpolicy.importers.registry", Importer),
    "render": Point("patchpolicy.render", "patchpolicy.render.interface",
                    "patchpolicy.render.registry", Renderer),
    "expr": Point("patchpolicy.expr", "patchpolicy.expr.interface", "patchpolicy.expr.engines", Engine),
}


def _file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def imports_of(module: str) -> set[str]:
    """Every patchpolicy module ``module`` imports, at any depth of its source. ``from P
    import m`` of a submodule ``m`` imports ``P.m``; of any other name, ``P`` itself."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(_file(module).read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None, f"{module}: relative import"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if _is_module(sub) else node.module)
    return {m for m in out if m == "patchpolicy" or m.startswith("patchpolicy.")}


def implementations(point: Point) -> set[str]:
    """The modules of the package that define a subclass of the interface's base class."""
    found: set[str] = set()
    pkg = importlib.import_module(point.package)
    for info in pkgutil.walk_packages(pkg.__path__, f"{point.package}."):
        try:
            mod = importlib.import_module(info.name)
        except ImportError:  # an optional engine's library is missing: read its source
            text = _file(info.name).read_text()
            if f"({point.base.__name__})" in text:
                found.add(info.name)
            continue
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == info.name and issubclass(cls, point.base) and info.name != point.interface:
                found.add(info.name)
    return found


def test_implementations_are_found() -> None:
    """The scan below means something: it finds the implementations the factories return."""
    assert {"patchpolicy.importers.trivy", "patchpolicy.importers.qualys"} <= implementations(POINTS["importers"])
    assert {"patchpolicy.render.html", "patchpolicy.render.tasks"} <= implementations(POINTS["render"])
    assert {"patchpolicy.expr.celpy_engine", "patchpolicy.expr.celexpr_engine"} <= implementations(POINTS["expr"])


# ---------------------------------------------------------------- exhaustive factories


def _branches(factory: Callable[..., Any], enum: type[Enum]) -> set[str]:
    """The members of ``enum`` that the factory's source names (``Enum.MEMBER``)."""
    tree = ast.parse(inspect.getsource(factory).lstrip())
    return {
        n.attr for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == enum.__name__
    }


FACTORIES: list[tuple[Callable[..., Any], type[Enum]]] = [
    (importer_registry.get_importer, ImporterFormat),
    (render_registry.renderer_for, BundleOutput),
    (render_registry.check_renderer, CheckFormat),
    (engines._build, EngineName),
]


@pytest.mark.parametrize(("factory", "enum"), FACTORIES, ids=lambda x: getattr(x, "__name__", ""))
def test_every_member_has_its_branch(factory: Callable[..., Any], enum: type[Enum]) -> None:
    assert _branches(factory, enum) == {m.name for m in enum}


@pytest.mark.parametrize("fmt", list(ImporterFormat))
def test_importer_factory(fmt: ImporterFormat) -> None:
    importer = importer_registry.get_importer(fmt)
    assert isinstance(importer, Importer)
    assert importer.format is fmt
    assert type(importer).__module__ in implementations(POINTS["importers"])


def test_importer_classes_are_one_per_format() -> None:
    classes = {type(importer_registry.get_importer(f)) for f in ImporterFormat}
    assert len(classes) == len(ImporterFormat)


@pytest.mark.parametrize("output", list(BundleOutput))
def test_bundle_renderer_factory(output: BundleOutput) -> None:
    renderer = render_registry.renderer_for(output)
    assert isinstance(renderer, Renderer)
    assert renderer.filename == output.value
    assert type(renderer).__module__ in implementations(POINTS["render"])


@pytest.mark.parametrize("fmt", list(CheckFormat))
def test_check_renderer_factory(fmt: CheckFormat) -> None:
    renderer = render_registry.check_renderer(fmt)
    assert isinstance(renderer, Renderer)
    assert type(renderer).__module__ in implementations(POINTS["render"])


@pytest.mark.parametrize("name", list(EngineName))
def test_engine_factory(name: EngineName) -> None:
    if name is EngineName.CEL_EXPR and not cel_expr_available():
        pytest.skip("cel-expr-python is not installed")  # its branch is checked above
    engine = get_engine(name)
    assert isinstance(engine, Engine)
    assert engine.name == name.value
    assert type(engine).__module__ in implementations(POINTS["expr"])


# ---------------------------------------------------------------- no cycles


@pytest.mark.parametrize("name", list(POINTS))
def test_interface_imports_no_implementation(name: str) -> None:
    point = POINTS[name]
    forbidden = implementations(point) | {point.registry, point.package}
    assert imports_of(point.interface) & forbidden == set()


@pytest.mark.parametrize("name", list(POINTS))
def test_nothing_an_implementation_imports_leads_back_to_the_registry(name: str) -> None:
    point = POINTS[name]
    for module in sorted(implementations(point) | {point.interface}):
        assert imports_of(module) & {point.registry, point.package} == set(), module


def test_the_registries_are_the_only_factories() -> None:
    """No other module of src builds an importer, a renderer or an engine."""
    names = {
        cls.__name__
        for point in POINTS.values()
        for module in implementations(point)
        if _is_importable(module)
        for _, cls in inspect.getmembers(importlib.import_module(module), inspect.isclass)
        if cls.__module__ == module and issubclass(cls, point.base) and not inspect.isabstract(cls)
    }
    assert {"TrivyImporter", "HtmlReport", "CelPyEngine"} <= names
    registries = {_file(p.registry) for p in POINTS.values()}
    for path in sorted(SRC.rglob("*.py")):
        if path in registries:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                assert called not in names, f"{path.relative_to(SRC)}:{node.lineno}: builds {called}"


def _is_importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def test_api_and_the_package_root_do_not_import_each_other() -> None:
    """The root re-exports the API; the API (and the version) never import the root."""
    assert "patchpolicy.api" in imports_of("patchpolicy")
    assert "patchpolicy" not in imports_of("patchpolicy.api")
    assert "patchpolicy" not in imports_of("patchpolicy.version")
    assert imports_of("patchpolicy.version") == set()
