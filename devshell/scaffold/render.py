"""Render a template folder into a new module or project.

A template is a folder. Every path inside it is a Jinja2 template too
(``tests/test_{{ name }}.py.tmpl``); files ending in ``.tmpl`` are rendered and
lose the suffix, every other file is copied byte for byte. Nothing is written
until every file has rendered, and existing files are refused unless *force*.
"""

from __future__ import annotations

import contextlib

import datetime
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from ..site import Site

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RENDERED_SUFFIX = ".tmpl"
SKIPPED = frozenset({"__pycache__", ".DS_Store"})
NAME_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Template:
    """A built-in template: its folder, what it makes, and other templates rendered inside it."""

    name: str
    summary: str
    includes: tuple[tuple[str, str], ...] = ()  #: (template, target folder inside, itself templated)

    @property
    def path(self) -> Path:
        return TEMPLATES_DIR / self.name


#: the built-in templates, in the order ``--list`` shows them
BUILTIN_TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("module", "a module: manifest, schema SQL, a route, a cron job, a populate factory, a test"),
    Template("project", "a project: devshell.toml, README, .gitignore and a first module in addons/",
             includes=(("module", "addons/{{ name }}"),)),
    Template("demo", "the demo project of `devshell start --demo`: a library app with a live page"),
)}


@dataclass
class ScaffoldResult:
    """Where the new module or project is and which files were written."""

    name: str
    template: str
    target: Path
    files: list[Path] = field(default_factory=list)


def validate_name(name: str) -> str:
    """A module name: lower-case ASCII letters, digits and ``_``, not starting with a digit, not a keyword."""
    if not NAME_RE.match(name or "") or keyword.iskeyword(name):
        raise UsageError(f"invalid name {name!r}: use lower-case letters, digits and _ "
                         "(a Python identifier, e.g. my_module)")
    return name


def list_templates() -> list[Template]:
    return list(BUILTIN_TEMPLATES.values())


def find_template(template: str | Path) -> tuple[str, Path, tuple[tuple[str, str], ...]]:
    """(label, folder, includes) of a built-in template name or of a template folder given by path."""
    key = str(template)
    if key in BUILTIN_TEMPLATES:
        found = BUILTIN_TEMPLATES[key]
        return found.name, found.path, found.includes
    folder = Path(template).expanduser()
    if folder.is_dir():
        return str(folder), folder.resolve(), ()
    known = ", ".join(BUILTIN_TEMPLATES)
    raise UsageError(f"unknown template {key!r}: use one of {known} or the path of a template folder "
                     "(devshell scaffold --list)")


def default_context(name: str, **extra: Any) -> dict[str, Any]:
    """What every template sees: ``name``, ``title``, ``class_name``, ``year``, ``devshell_version``."""
    from ..version import __version__

    words = [word for word in name.split("_") if word]
    return {"name": name, "title": " ".join(word.capitalize() for word in words) or name,
            "class_name": "".join(word.capitalize() for word in words) or name.capitalize(),
            "year": datetime.date.today().year, "devshell_version": __version__, **extra}


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              autoescape=False)  # source code and text, not HTML


def plan_files(folder: Path, context: Mapping[str, Any]) -> dict[PurePosixPath, bytes]:
    """{relative output path: content} for every file of the template *folder*."""
    import jinja2

    env = _environment()
    files: dict[PurePosixPath, bytes] = {}
    for source in sorted(folder.rglob("*")):
        relative = source.relative_to(folder)
        if SKIPPED & set(relative.parts) or source.suffix == ".pyc" or source.is_dir():
            continue
        where = f"template file {relative}"
        try:
            parts = [env.from_string(part).render(context) for part in relative.parts]
            if source.suffix == RENDERED_SUFFIX:
                text = env.from_string(source.read_text(encoding="utf-8")).render(context)
                content = text.encode("utf-8")
                parts[-1] = parts[-1][: -len(RENDERED_SUFFIX)]
            else:
                content = source.read_bytes()
        except jinja2.TemplateError as exc:
            line = f" line {exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno else ""
            raise DevshellError(f"{where}{line}: {exc.message or exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DevshellError(f"{where}: cannot be read: {exc}") from None
        output = PurePosixPath(*parts)
        if not all(parts) or output.is_absolute() or ".." in output.parts:
            raise DevshellError(f"{where}: renders to {output}, which is not a path inside the new folder")
        files[output] = content
    return files


def render_into(template: str | Path, target: Path, context: Mapping[str, Any], *,
                force: bool = False) -> list[Path]:
    """Render *template* (and what it includes) into *target*; returns the files written."""
    _label, folder, includes = find_template(template)
    planned = {target / path: content for path, content in plan_files(folder, context).items()}
    env = _environment()
    for included, inside in includes:
        sub = target / env.from_string(inside).render(context)
        _l, sub_folder, _i = find_template(included)
        planned.update({sub / path: content for path, content in plan_files(sub_folder, context).items()})
    folders = sorted(path for path in planned if path.is_dir() and not path.is_symlink())
    if folders:
        raise DevshellError(f"{folders[0]} is a folder: the template writes a file there")
    existing = sorted(path for path in planned if path.exists() or path.is_symlink())
    if existing and not force:
        shown = ", ".join(str(path) for path in existing[:3]) + (" …" if len(existing) > 3 else "")
        raise DevshellError(f"would overwrite {len(existing)} existing file(s): {shown} "
                            "(choose another destination, or --force)")
    _write_all(planned)
    return sorted(planned)


def _write_all(planned: Mapping[Path, bytes]) -> None:
    """Write every planned file; when one cannot be written, remove what this call created and say why."""
    made: list[Path] = []  # folders and files created here, in order
    try:
        for path, content in sorted(planned.items()):
            for folder in reversed([parent for parent in path.parents if not parent.exists()]):
                folder.mkdir()
                made.append(folder)
            existed = path.exists() or path.is_symlink()
            if path.is_symlink():
                path.unlink()
            path.write_bytes(content)
            if not existed:
                made.append(path)
    except OSError as exc:
        for item in reversed(made):
            with contextlib.suppress(OSError):
                if item.is_dir() and not item.is_symlink():
                    item.rmdir()
                else:
                    item.unlink()
        raise DevshellError(f"cannot write {exc.filename or path}: {exc.strerror or exc} (choose a destination "
                            "you can write to)") from None


def check_not_on_path(name: str, site: "Site") -> None:
    """Refuse a name that a module on the addons path already has."""
    found = site.modules.get(name)
    if found is not None:
        raise UsageError(f"a module named {name!r} already exists at {found.path}: choose another name")


def scaffold(name: str, dest: str | Path = ".", template: str | Path = "module", *, force: bool = False,
             site: "Site | None" = None, context: Mapping[str, Any] | None = None) -> ScaffoldResult:
    """Create ``DEST/NAME`` from *template* (``module``, ``project``, ``demo`` or a folder).

    The name must be a valid module name that no module on the addons path
    already has (*site*: default the cwd's); existing files are left alone unless *force*.
    """
    from ..site import Site

    validate_name(name)
    check_not_on_path(name, Site.of(site))
    label, _folder, _includes = find_template(template)
    target = (Path(dest).expanduser() / name).absolute()
    if target.exists() and not target.is_dir():
        raise DevshellError(f"{target} exists and is not a folder")
    files = render_into(template, target, default_context(name, **dict(context or {})), force=force)
    return ScaffoldResult(name, label, target, files)
