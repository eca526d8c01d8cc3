"""The package's shape: no import cycle, nothing imports upward, imports at the top unless a reason is given."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import labkit

PACKAGE = Path(labkit.__file__).resolve().parent

#: Lowest first: a module may import only from its own layer or the layers before it.
LAYERS = [
    ("base", ["labkit", "labkit.video", "labkit.checks"]),
    ("ideas", ["labkit.compression", "labkit.attention", "labkit.attention_maps", "labkit.schedules",
               "labkit.noise", "labkit.multiview", "labkit.budgets", "labkit.profiling", "labkit.inflation",
               "labkit.shipping"]),
    ("data", ["labkit.data"]),
    ("metrics", ["labkit.metrics"]),
    ("models", ["labkit.models"]),
    ("inference", ["labkit.inference"]),
    ("evaluation", ["labkit.evaluation"]),
    ("training", ["labkit.training"]),
    ("widgets", ["labkit.widgets"]),
    ("course", ["labkit.course"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best = (-1, -1)
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[1]:
                best = (i, len(prefix))
    return best[0]


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    names = [f"{target}.{alias.name}" for alias in node.names]
    return [n if n in MODULES else target for n in names]


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """Every labkit module ``module`` imports: (target, line, inside a function)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                targets = _resolve(module, path.name == "__init__.py", child)
            elif isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            else:
                visit(child, inner)
                continue
            found.extend([(t, child.lineno, inner) for t in targets if t.split(".")[0] == "labkit" and t in MODULES])

    visit(tree, False)
    return found


GRAPH = {m: sorted({t for t, _, _ in imports_of(m)} - {m}) for m in MODULES}


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle of the graph as a path ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state and (cycle := dfs(node)):
            return cycle
    return []


def test_find_cycle_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []


def test_imports_of_sees_function_local_imports(tmp_path):
    inner = [(t, local) for t, _, local in imports_of("labkit.course.cli")]
    assert any(local for _, local in inner), "labkit.course.cli imports trainers lazily; the walker must see it"


def test_no_import_cycle_anywhere():
    """Every import, top-level and function-local, package ``__init__`` re-exports included."""
    assert find_cycle(GRAPH) == []


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) < 0] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_upward(module):
    upward = [f"{t} (line {line})" for t, line, _ in imports_of(module) if layer_of(t) > layer_of(module)]
    assert upward == [], f"{module} ({LAYERS[layer_of(module)][0]}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_labkit_imports_are_at_the_top_unless_a_comment_says_why(module):
    """A function-local import of labkit needs a reason on its line (``# lazy: ...``)."""
    lines = MODULES[module].read_text().splitlines()
    unexplained = [f"line {line}: {lines[line - 1].strip()}" for t, line, local in imports_of(module)
                   if local and "# lazy:" not in lines[line - 1]]
    assert unexplained == []
