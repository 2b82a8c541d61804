"""The import graph of the bot's own packages (``bot``, ``handlers``, ``knowledge``), by ``ast``.

Every ``import`` counts, also those inside functions (a deferred import hides a cycle, it does
not remove it) and under ``if TYPE_CHECKING``. ``tests/test_structure.py`` checks the rules on
it; ``python -m tests.structure`` prints the figures (largest modules, cycles, handler→handler
imports).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "knowledge")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of ours (the deepest one that exists)
    line: int
    names: tuple[str, ...]  # for ``from target import a, b``: a, b (those that are not modules)


def module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    # packages without an __init__.py (namespace packages such as bot.views)
    for name in list(modules):
        parts = name.split(".")
        for i in range(1, len(parts)):
            modules.setdefault(".".join(parts[:i]), ROOT.joinpath(*parts[:i]))
    return modules


def is_package(name: str, modules: dict[str, Path]) -> bool:
    path = modules[name]
    return path.is_dir() or path.name == "__init__.py"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of ours that ``name`` (dotted) names or lies in."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, modules: dict[str, Path]) -> Iterator[Import]:
    path = modules[module]
    if path.is_dir():
        return
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if is_package(module, modules) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target is not None:
                    yield Import(module, target, node.lineno, ())
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            plain: list[str] = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield Import(module, sub, node.lineno, ())
                else:
                    plain.append(alias.name)
            if plain:
                target = _resolve(base, modules)
                if target is not None:
                    yield Import(module, target, node.lineno, tuple(plain))


def all_imports() -> list[Import]:
    modules = module_files()
    return [
        imp for module in modules for imp in imports_of(module, modules) if imp.target != module
    ]


def graph(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(imp.source, set()).add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def is_handler(module: str) -> bool:
    return module.startswith("handlers.")


def handler_imports(imports: list[Import]) -> list[Import]:
    """A handler module importing another handler module. A package's ``__init__`` importing its
    own submodules to assemble their routers (``handlers``, ``handlers.applications``) is not
    one; neither is ``bot.factory`` importing ``handlers`` for ``get_routers``."""
    modules = module_files()
    bad = []
    for imp in imports:
        if not (imp.source == "handlers" or is_handler(imp.source)):
            continue  # bot.factory importing handlers for get_routers(); see the tests
        if not (imp.target == "handlers" or is_handler(imp.target)):
            continue
        source_is_package = imp.source in modules and is_package(imp.source, modules)
        if source_is_package and imp.target.startswith(imp.source + "."):
            continue  # a package assembling its own routers
        bad.append(imp)
    return bad


def cycle_count(edges: dict[str, set[str]], limit: int = 10_000) -> int:
    """Elementary cycles (each counted once, from its smallest module), up to ``limit``."""
    count = 0
    for start in sorted(edges):
        # depth-first over paths of modules greater than ``start``
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack and count < limit:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    count += 1
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return count


def main() -> None:
    modules = module_files()
    sizes = sorted(
        (
            (len(p.read_text(encoding="utf-8").splitlines()), m)
            for m, p in modules.items()
            if p.is_file()
        ),
        reverse=True,
    )
    imports = all_imports()
    edges = graph(imports)
    print("largest modules (lines):")
    for lines, module in sizes[:5]:
        print(f"  {lines:5d}  {module}")
    components = cycles(edges)
    print(f"import cycles: {cycle_count(edges)} elementary, in {len(components)} tangles:")
    for component in components:
        print("  " + " ↔ ".join(component))
    bad = handler_imports(imports)
    print(f"handler→handler imports: {len(bad)}")
    for imp in bad:
        print(f"  {imp.source}:{imp.line} → {imp.target} {', '.join(imp.names)}")


if __name__ == "__main__":
    main()
