"""The package's layers, kept by a walk over its import graph (docs/architecture.md, "Layers").

Every `import` in every module counts, function-local and TYPE_CHECKING ones included: an import
hidden in a function is still a dependency. The walk fails on any cycle between modules, on an
import from a lower layer to a higher one, on the extra rules below, and on a module no layer
names (a new top-level module or package must be placed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import distilvit

# Lowest first. A name is a top-level module or subpackage of distilvit ("distilvit" is the
# package's own __init__). A module may import its own layer and the layers below it.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"distilvit", "errors", "options", "config", "cli_args", "folders", "tables", "images",
                        "runtime", "sequence", "tokens", "words"})),
    ("runtimes", frozenset({"model", "generate", "ort"})),
    ("library", frozenset({"caption_model", "data", "eval", "bases"})),
    ("applications", frozenset({"train", "export", "quality", "serve", "web", "batch",
                                "tinybases"})),
    ("commands", frozenset({"commands"})),
    ("entry points", frozenset({"cli", "__main__"})),
)
APPLICATIONS = ("train", "export", "quality", "serve", "web", "batch")
# Imports the layers alone would allow but the design forbids: (importer, imported groups).
FORBIDDEN: tuple[tuple[str, frozenset[str]], ...] = (
    ("ort", frozenset({"model", "generate"})),  # the ONNX runtime stands beside torch's
    ("data", frozenset({"eval", "caption_model", "bases"})),  # data knows no model
    *((app, frozenset(APPLICATIONS) - {app}) for app in APPLICATIONS),  # side by side
)
# Modules that must import no torch, transformers or peft, nor any module that does: the ONNX
# path (a test checks sys.modules at run time too) and what it stands on.
TORCH_FREE_GROUPS = frozenset({"ort", "tokens", "words", "folders", "tables", "errors", "options",
                               "config", "images"})
TORCH_PACKAGES = frozenset({"torch", "transformers", "peft", "torchvision"})

ROOT = Path(distilvit.__file__).parent


def module_names(root: Path = ROOT) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = ("distilvit", *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, package: str) -> list[str]:
    """Dotted names an import statement reads (submodules where `from X import name` is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parent = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parent + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> distilvit modules it imports, module -> top-level external packages)."""
    modules = module_names(root)
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        internal[name], external[name] = set(), set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = _imported(node, package)
            if isinstance(node, ast.ImportFrom) and targets:
                # `from pkg import sub` imports the submodule; `from mod import f` the module
                named = [t for t in targets[:-1] if t in modules]
                targets = named if len(named) == len(targets) - 1 else [targets[-1], *named]
            for target in targets:
                if target.split(".")[0] != "distilvit":
                    external[name].add(target.split(".")[0])
                    continue
                while target not in modules:
                    target = target.rpartition(".")[0]
                if target != name:
                    internal[name].add(target)
    return internal, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "distilvit"


def layer_of(module: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        if group(module) in members:
            return rank
    raise AssertionError(f"{module}: in no layer of tests/test_layers.py; place it")


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Upward imports, forbidden imports, and one command importing another."""
    found = []
    forbidden = dict(FORBIDDEN)
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source, dest = group(module), group(target)
            if layer_of(target) > layer_of(module):
                found.append(f"{module} -> {target}: {LAYERS[layer_of(module)][0]} imports "
                             f"{LAYERS[layer_of(target)][0]}")
            elif dest in forbidden.get(source, ()):
                found.append(f"{module} -> {target}: {source} must not import {dest}")
            elif source == dest == "commands" and "distilvit.commands" not in (module, target):
                found.append(f"{module} -> {target}: commands must not import each other")
    return found


def test_no_import_cycle():
    internal, _ = import_graph()
    assert cycles(internal) == []


def test_every_module_is_in_a_layer():
    for module in module_names():
        layer_of(module)


def test_no_import_goes_up_a_layer_or_across_a_wall():
    internal, _ = import_graph()
    assert violations(internal) == []


def test_the_onnx_path_stands_on_no_torch():
    internal, external = import_graph()
    free = {m for m in internal if group(m) in TORCH_FREE_GROUPS}
    for module in sorted(free):
        assert not external[module] & TORCH_PACKAGES, f"{module} imports torch"
        assert internal[module] <= free, f"{module} imports {internal[module] - free}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    """A planted cycle, an upward import and a command importing a command are all found."""
    package = tmp_path / "distilvit"
    for name, text in {
        "__init__.py": "",
        "errors.py": "from distilvit.model.a import A\n",  # base -> runtimes: upward
        "model/__init__.py": "",
        "model/a.py": "def f():\n    from distilvit.model import b\n",  # function-local
        "model/b.py": "from distilvit.model.a import f\n",  # ... closes a cycle
        "commands/__init__.py": "",
        "commands/x.py": "from distilvit.commands.y import run\n",
        "commands/y.py": "def run(): ...\n",
        "ort/__init__.py": "from distilvit.generate import g\n",
        "generate.py": "import torch\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    internal, external = import_graph(package)
    assert cycles(internal) == [["distilvit.model.a", "distilvit.model.b"]]
    assert violations(internal) == [
        "distilvit.commands.x -> distilvit.commands.y: commands must not import each other",
        "distilvit.errors -> distilvit.model.a: base imports runtimes",
        "distilvit.ort -> distilvit.generate: ort must not import generate",
    ]
    assert external["distilvit.generate"] == {"torch"}
