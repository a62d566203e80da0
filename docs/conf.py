"""Sphinx configuration of deap_cnn's documentation: ``make docs`` builds it into docs/_build/html.

The pages are Markdown, read by MyST; the API reference (``docs/api/*.rst``)
is generated from the docstrings by autodoc, whose NumPy-style sections
napoleon reads. The build is nitpicky (``-n``) and turns warnings into
errors (``-W``), so a docstring that names a function, class or module that
does not exist breaks it. It runs offline: other projects' objects (torch,
DEAP, NumPy, the standard library) are not looked up with intersphinx, and
:func:`resolve_existing` below renders a reference to them, or to one of our
objects that has no entry of its own, as code without a link once it has
checked that the object exists.
"""

from __future__ import annotations

import importlib
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # document this checkout, not another installed deap_cnn

import deap_cnn  # noqa: E402

project = "deap_cnn"
author = "deap_cnn's authors"
copyright = "deap_cnn's authors, MIT licence"
release = version = deap_cnn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_heading_anchors = 3  # links to sections: runs.md#resume
suppress_warnings = ["myst.header"]  # the pages keep GitHub's habit of H2 sections under one H1

# --- the API reference ------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # Each object once, in the module that defines it: packages re-export names in __all__.
    "ignore-module-all": True,
}
autodoc_inherit_docstrings = False  # torch's Module.forward docstring is not ours to check
napoleon_google_docstring = False
napoleon_numpy_docstring = True
nitpicky = True


def _numpy_sections_of_functions_and_classes():
    """Napoleon reads a constant's ``#:`` comment "Pooling kinds (as CNN-GA names them): ..." as
    "TYPE: text"; ours are prose, so it reads only the docstrings of functions, classes and modules."""
    import sphinx.ext.napoleon as napoleon

    numpy_sections = napoleon._process_docstring

    def process(app, what, name, obj, options, lines):
        if what not in ("data", "attribute", "property"):
            numpy_sections(app, what, name, obj, options, lines)

    napoleon._process_docstring = process  # napoleon's setup, run after this file, connects it


_numpy_sections_of_functions_and_classes()


def locate(name: str):
    """The object a dotted ``name`` refers to (importing its module), or ``None``."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - any failure means "not this split"
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def candidates(node) -> list[str]:
    """The names a reference may mean: as written, then inside its module and class (as Python resolves it)."""
    target = node["reftarget"].lstrip(".~")
    module, cls = node.get("py:module"), node.get("py:class")
    names = [target]
    if module:
        names += [f"{module}.{cls}.{target}"] if cls else []
        names += [f"{module}.{target}"]
        # ``:mod:`.genome``` written in a package's docstring
        if node["reftarget"].startswith("."):
            names += [f"{module}.{node['reftarget'].lstrip('.')}"]
    return names


def resolve_existing(app, env, node, contnode):
    """Resolve a reference that Sphinx could not: a re-exported name links to where it is documented,
    and an object that exists but has no entry (another project's, a constant) becomes plain code.
    A name that exists nowhere stays unresolved, so the nitpicky build fails on it."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    for name in candidates(node):
        obj = locate(name)
        if obj is None:
            continue
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if isinstance(obj, type(sys)):
            module, qualname = obj.__name__, None
        for canonical in filter(None, [f"{module}.{qualname}" if module and qualname else module, name]):
            found = domain.resolve_any_xref(env, node["refdoc"], app.builder, canonical, node, contnode)
            if found:
                return found[0][1]
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", resolve_existing)


# --- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"deap_cnn {release}"
