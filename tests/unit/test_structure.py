"""The house: imports point down, no circles, ``common`` imports no role, sizes bounded.

Read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` statement counts, at module level, inside functions and under
``if TYPE_CHECKING:`` alike, since each is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("common", "gateway", "register", "business", "examples", "bench")
ROLES = ("gateway", "register", "business")
SIZED = ("common", "gateway", "register", "business")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {}
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


SOURCES = sources()


def imports_of(name: str, path: Path) -> set[str]:
    """The project modules that ``name`` imports (statement by statement)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # "from pkg import mod" names a module; "from mod import name" does not
            targets = [
                f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in SOURCES else prefix
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in SOURCES:  # "pkg.mod.attr" -> "pkg.mod"
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path) for name, path in SOURCES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_finds_imports_of_every_kind() -> None:
    # relative, absolute, inside a function, "from package import module"
    assert "gateway.stream" in GRAPH["gateway.server"]
    assert "common.protocol" in GRAPH["gateway.workers"]
    assert "common.ready" in GRAPH["common.service"]
    assert "gateway.server" in GRAPH["gateway.cli"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert cycles(GRAPH) == []


def test_common_imports_no_role() -> None:
    offending = {
        name: sorted(t for t in targets if t.split(".")[0] in ROLES)
        for name, targets in GRAPH.items()
        if name.split(".")[0] == "common"
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_roles_do_not_import_each_other() -> None:
    # a push client (business) talks to gateways over the wire, never through their code
    offending = {
        name: sorted(t for t in targets if t.split(".")[0] in ROLES and t.split(".")[0] != role)
        for name, targets in GRAPH.items()
        if (role := name.split(".")[0]) in ROLES
    }
    assert {name: found for name, found in offending.items() if found} == {}


@pytest.mark.parametrize("name", sorted(n for n in SOURCES if n.split(".")[0] in SIZED))
def test_module_size(name: str) -> None:
    lines = len(SOURCES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"


def test_class_size() -> None:
    too_long = []
    for name, path in SOURCES.items():
        if name.split(".")[0] not in SIZED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


# -- wiring: parts are built with what they need, nothing is patched in later ---------------
WIRED = ("common", "gateway", "register", "business")
# the one write into an object a part holds: the connection drops what only the handshake
# needed from its own websockets protocol (about 1 KB a connection)
WRITES_INTO_PARTS = {("gateway.connection", "self.protocol.handshake_exc")}


def test_nothing_is_attached_or_set_on_a_part_after_it_is_made() -> None:
    attached, written = [], []
    for name, path in SOURCES.items():
        if name.split(".")[0] not in WIRED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "attach":
                attached.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    # self.part.attr = ...: setting what another object holds
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Attribute)
                        and isinstance(target.value.value, ast.Name)
                        and target.value.value.id == "self"
                        and (name, ast.unparse(target)) not in WRITES_INTO_PARTS
                    ):
                        written.append(f"{name}:{node.lineno} {ast.unparse(target)}")
    assert attached == [] and written == []


def annotation(module: str, cls: str, attribute: str) -> str:
    """How ``cls.attribute`` is annotated in ``module`` (a field, or ``self.x: T`` in a method)."""
    tree = ast.parse(SOURCES[module].read_text())
    [found] = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls]
    for node in ast.walk(found):
        if isinstance(node, ast.AnnAssign):
            target = node.target
            if (isinstance(target, ast.Name) and target.id == attribute) or (
                isinstance(target, ast.Attribute)
                and target.attr == attribute
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                return ast.unparse(node.annotation)
    raise AssertionError(f"{module}.{cls}.{attribute} is not annotated")


def test_the_reader_finds_annotations() -> None:
    assert annotation("gateway.clients", "Client", "client_id") == "str"
    assert annotation("gateway.edge", "Edge", "conns") == "set[Connection[Client]]"


@pytest.mark.parametrize(
    ("module", "cls", "attribute"),
    [
        ("gateway.clients", "Client", "conn"),
        ("gateway.clients", "Client", "bucket"),
        ("gateway.connection", "Connection", "client"),
    ],
)
def test_the_links_between_a_client_and_its_connection_are_typed(
    module: str, cls: str, attribute: str
) -> None:
    assert "Any" not in annotation(module, cls, attribute)


# -- no hidden globals: module-level state is constants, loggers, or on this list ------------
STATEFUL = ("common", "gateway", "register", "business", "examples")
# a module-level name bound to an object made at import, and why that is not hidden state
ROUTE_TABLE = "aiohttp's route table, which its decorators fill at import"
MODULE_OBJECTS = {
    ("business.api", "api"): "the user's API (GatewayWorker's Gateway::): it holds nothing; "
    "each call finds its worker in the running handler's context",
    ("examples.chat.worker.app", "_later"): "the app's presence checks under way, kept "
    "referenced until done (an app module's own tasks)",
    ("examples.chat.web.accounts", "routes"): ROUTE_TABLE,
    ("examples.chat.web.conversations", "routes"): ROUTE_TABLE,
    ("examples.chat.web.rooms", "routes"): ROUTE_TABLE,
    ("examples.chat.web.routes", "routes"): ROUTE_TABLE,
    ("examples.chat.web.unread", "routes"): ROUTE_TABLE,
}
# made at import and fine anywhere: loggers (and their rate-limited wrappers), context vars
# and click's option decorators
IMPORT_TIME_CALLS = {"getLogger", "Throttled", "ContextVar", "TypeVar", "option"}
MUTATORS = {
    "append",
    "add",
    "update",
    "pop",
    "popitem",
    "clear",
    "setdefault",
    "extend",
    "insert",
    "remove",
    "discard",
    "__setitem__",
}


def module_statements(tree: ast.Module) -> list[ast.stmt]:
    """What runs at import: the module's statements, into ``if``/``try`` blocks (but not
    ``if __name__ == "__main__"``), not into functions or classes."""
    found: list[ast.stmt] = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.If):
            if "__main__" not in ast.unparse(node.test):
                pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
            pending += [s for handler in node.handlers for s in handler.body]
        else:
            found.append(node)
    return found


def run_at_import(node: ast.AST) -> list[ast.AST]:
    """The nodes of a module-level statement that run when it is imported: not the
    bodies of functions (their decorators and defaults do run)."""
    found: list[ast.AST] = []
    pending = [node]
    while pending:
        inner = pending.pop()
        found.append(inner)
        if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
            pending += [*inner.decorator_list, inner.args]
        else:
            pending += ast.iter_child_nodes(inner)
    return found


def constant_name(name: str) -> bool:
    return name.lstrip("_").isupper() or (name.startswith("__") and name.endswith("__"))


def state_problems(name: str, tree: ast.Module) -> list[str]:
    problems = []
    for node in module_statements(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if isinstance(value, ast.Call):
                called = value.func
                callee = called.attr if isinstance(called, ast.Attribute) else ast.unparse(called)
                if callee in IMPORT_TIME_CALLS:
                    continue
            elif not isinstance(value, ast.Dict | ast.List | ast.Set | ast.comprehension):
                continue
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and not constant_name(target.id)
                    and (name, target.id) not in MODULE_OBJECTS
                ):
                    problems.append(
                        f"{name}:{node.lineno} {target.id} = {ast.unparse(value)}"[:120]
                    )
        read = [n for n in run_at_import(node) if isinstance(n, ast.Attribute)]
        if any(ast.unparse(n) in ("os.environ", "os.getenv") for n in read):
            problems.append(f"{name}:{node.lineno} reads the environment at import")
    constants = {
        t.id
        for node in module_statements(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            problems.append(f"{name}:{node.lineno} global {', '.join(node.names)}")
        mutated = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            mutated = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            mutated = node.func.value
        if isinstance(mutated, ast.Name) and mutated.id in constants:
            problems.append(f"{name}:{node.lineno} changes the module's {mutated.id}")
    return problems


def test_the_state_finder_finds_module_state() -> None:
    source = """
import os
cache = {}
LIMIT = int(os.environ.get("LIMIT", "1"))
TABLE = {"a": 1}
log = logging.getLogger(__name__)
def f():
    TABLE["b"] = 2
    cache.clear()
    return os.environ["HOME"]  # (when called: fine)
"""
    found = state_problems("m", ast.parse(source))
    assert [p.split(" ", 1)[1] for p in found] == [
        "cache = {}",
        "reads the environment at import",
        "changes the module's TABLE",
        "changes the module's cache",
    ]


def test_no_module_level_state() -> None:
    problems = []
    for name, path in SOURCES.items():
        if name.split(".")[0] in STATEFUL:
            problems += state_problems(name, ast.parse(path.read_text()))
    assert problems == []


# -- one name, one thing -------------------------------------------------------------------
# the packages whose names are checked
NAMED = ("common", "gateway", "register", "business", "examples")
# module names that several packages have, each meaning the same thing in its own
SHARED_MODULE_NAMES = {
    "__init__": "a package",
    "cli": "a role's gw command",
    "server": "a role's process (its Service)",
    "metrics": "what a role tells Prometheus (common's: the endpoint they all serve)",
    "app": "an example's worker app (gw worker --app)",
}


@functools.cache
def defined_names(name: str) -> frozenset[str]:
    """What a module defines itself at its top level (not what it imports)."""
    found = set()
    for node in module_statements(ast.parse(SOURCES[name].read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return frozenset(found)


def borrowed_imports(name: str, path: Path) -> list[str]:
    """``from M import X`` where M is a project module (not a package) that does not
    define X but imports it: X has another home, its one import path."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module not in SOURCES or SOURCES[module].name == "__init__.py":
            continue
        for alias in node.names:
            if f"{module}.{alias.name}" not in SOURCES and alias.name not in defined_names(module):
                found.append(f"{name}:{node.lineno} takes {alias.name} from {module}")
    return found


def test_names_are_imported_from_their_home() -> None:
    tests = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts): p
        for p in sorted((ROOT / "tests").rglob("*.py"))
    }
    borrowed = []
    for name, path in {**SOURCES, **tests}.items():
        borrowed += borrowed_imports(name, path)
    assert borrowed == []


def test_a_class_name_means_one_thing() -> None:
    homes: dict[str, list[str]] = {}
    for name, path in SOURCES.items():
        if name.split(".")[0] in NAMED:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    homes.setdefault(node.name, []).append(name)
    assert {cls: where for cls, where in homes.items() if len(where) > 1} == {}


def test_a_module_name_means_one_thing() -> None:
    homes: dict[str, list[str]] = {}
    for name, path in SOURCES.items():
        if name.split(".")[0] in NAMED:
            homes.setdefault(path.stem, []).append(name)
    shared = {stem: where for stem, where in homes.items() if len(where) > 1}
    assert set(shared) <= set(SHARED_MODULE_NAMES), shared


def test_nothing_reaches_into_another_objects_private_names() -> None:
    """``other._name`` is the other's own business: ask it through a public verb (gw
    connections once called the push client's ``_ask``)."""
    reached = []
    for name, path in SOURCES.items():
        if name.split(".")[0] not in NAMED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and ast.unparse(node.value) not in ("self", "cls", "super()")
            ):
                reached.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert reached == []


# -- the formatter formats --------------------------------------------------------------------
def skipped_statements(path: Path) -> list[tuple[int, ast.stmt | None]]:
    """Each ``# fmt: skip`` of a file, with the statement it ends (None: none ends there)."""
    source = path.read_text()
    lines = source.splitlines()
    ends = {
        node.end_lineno: node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)
    }
    return [(n, ends.get(n)) for n, line in enumerate(lines, 1) if line.endswith("# fmt: skip")]


def test_the_formatter_is_skipped_only_for_tables() -> None:
    """A table a reader reads as rows (a literal of many lines) may keep its alignment;
    anything else is the formatter's."""
    kept = []
    paths = [*SOURCES.values(), *(ROOT / "tests").rglob("*.py")]
    for path in paths:
        for line, node in skipped_statements(path):
            value = getattr(node, "value", None)
            table = isinstance(value, ast.Dict | ast.List | ast.Tuple | ast.Set)
            if not (table and node is not None and node.end_lineno - node.lineno >= 2):
                kept.append(f"{path.relative_to(ROOT)}:{line}")
    assert kept == []


def test_the_chats_two_sides_import_nothing_of_each_other() -> None:
    """The chat's worker (examples.chat.worker) and web backend (examples.chat.web) share
    only what is below both (examples.chat's own modules), which imports neither."""
    sides = {"worker": "examples.chat.worker", "web": "examples.chat.web"}
    crossing = []
    for name, targets in GRAPH.items():
        if not name.startswith("examples.chat"):
            continue
        mine = next((s for s, prefix in sides.items() if name.startswith(prefix)), None)
        for target in targets:
            theirs = next((s for s, p in sides.items() if target.startswith(p)), None)
            if theirs is not None and theirs != mine:
                crossing.append(f"{name} -> {target}")
    assert crossing == []
    assert "examples.chat.groups" in GRAPH["examples.chat.worker.identity"]  # (the reader)
