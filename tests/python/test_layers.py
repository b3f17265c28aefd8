"""The code's layering, read from the sources: each C++ area includes only the areas below it, and
the Python package's module-level imports form no cycle."""
import ast
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# bottom first: an area may include those before it
CPP_AREAS = ["core", "codecs", "ops", "model", "data", "eval", "train", "info"]


def _includes(area):
    found = set()
    folder = os.path.join(ROOT, "cpp", "mrcnn", area)
    for dirpath, _, files in os.walk(folder):
        for name in files:
            if name.endswith((".h", ".cpp", ".cu", ".cuh")):
                text = open(os.path.join(dirpath, name), encoding="utf-8").read()
                found |= {(name, m) for m in re.findall(r'#include "mrcnn/([a-z_]+)/', text)}
    return found


def test_cpp_areas_include_only_the_areas_below_them():
    wrong = []
    for rank, area in enumerate(CPP_AREAS):
        below = set(CPP_AREAS[:rank + 1])
        wrong += ["%s/%s includes %s/" % (area, name, other) for name, other in _includes(area) if other not in below]
    assert os.path.isdir(os.path.join(ROOT, "cpp", "mrcnn", "core"))
    assert sorted(os.listdir(os.path.join(ROOT, "cpp", "mrcnn"))) == sorted(CPP_AREAS)
    assert not wrong, wrong


def _module_imports(path):
    """The mrcnn modules a module imports when it is imported (not those imported inside functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mrcnn."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mrcnn.")}
    return out


def test_python_modules_import_without_cycles():
    folder = os.path.join(ROOT, "python", "mrcnn")
    modules = {f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py"}
    graph = {m: _module_imports(os.path.join(folder, m + ".py")) & modules for m in modules}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(" -> ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])
    assert graph["utils"] and not cycles, cycles
