"""The interactive REPLs of ``devshell shell``: IPython, ptpython, bpython and the plain Python console.

Each runs the shell's namespace with a savepoint around every statement (see
:mod:`devshell.shell.savepoints`), the per-project history, and completion of
table names after ``env["`` (IPython's ``_ipython_key_completions_`` protocol,
which ptpython is taught here). Each REPL library is imported only when chosen.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .savepoints import StatementSavepoints

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

#: ``name["prefix`` at the end of the text before the cursor: complete the keys of ``name``
_KEY_LOOKUP = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*(["'])([^"'\\]*)$""")


def run_ipython(namespace: dict[str, Any], banner: str, history_dir: Path | None) -> None:
    """IPython with the devshell extension (magics, and the savepoint per cell it installs)."""
    from IPython import start_ipython
    from traitlets.config import Config

    config = Config()
    config.TerminalInteractiveShell.banner2 = banner + "\n"
    config.InteractiveShellApp.extensions = ["devshell"]  # %%sql, %commit, %rollback, %devshell, savepoints
    config.InteractiveShellApp.exec_PYTHONSTARTUP = False  # the shell ran it already, in this namespace
    if history_dir is not None:
        config.HistoryManager.hist_file = str(history_dir / "ipython_history.sqlite")
    start_ipython(argv=[], user_ns=namespace, config=config)


def run_ptpython(namespace: dict[str, Any], banner: str, history_dir: Path | None) -> None:
    """ptpython with the user's configuration, a savepoint per statement and ``env["`` completion."""
    from ptpython.repl import PythonRepl, embed, run_config

    savepoints = StatementSavepoints(lambda: namespace.get("env"))

    def configure(repl: PythonRepl) -> None:
        run_config(repl)
        _guard_ptpython(repl, savepoints)
        from prompt_toolkit.completion import merge_completers

        repl.completer = merge_completers([key_completer(namespace), repl.completer])

    print(banner)
    history = str(history_dir / "ptpython_history") if history_dir is not None else None
    embed(globals=namespace, locals=namespace, configure=configure, history_filename=history)


def _guard_ptpython(repl: Any, savepoints: StatementSavepoints) -> None:
    """Wrap ptpython's read-eval-print step: a savepoint around it, failures seen where ``eval`` raises."""
    run_and_show, evaluate = repl.run_and_show_expression, repl.eval
    failed = [False]

    def guarded_eval(line: str) -> object:
        try:
            return evaluate(line)
        except BaseException:
            failed[0] = True
            raise

    def guarded_run(text: str) -> None:
        failed[0] = False
        savepoints.begin()
        try:
            run_and_show(text)
        except BaseException:
            failed[0] = True
            raise
        finally:
            savepoints.end(failed[0])

    repl.eval = guarded_eval
    repl.run_and_show_expression = guarded_run


def key_completer(namespace: dict[str, Any]) -> Any:
    """A prompt_toolkit completer of ``obj["prefix`` from ``obj._ipython_key_completions_()`` (env's tables)."""
    from prompt_toolkit.completion import Completer, Completion

    class KeyCompleter(Completer):
        def get_completions(self, document: "Document", complete_event: "CompleteEvent") -> Iterable[Completion]:
            match = _KEY_LOOKUP.search(document.text_before_cursor)
            if match is None:
                return
            name, quote, prefix = match.groups()
            keys = getattr(namespace.get(name), "_ipython_key_completions_", None)
            if keys is None or not callable(keys):
                return
            try:
                candidates = [key for key in keys() if isinstance(key, str) and key.startswith(prefix)]
            except Exception:  # noqa: BLE001 - a completion must never break the prompt (a lost connection)
                return
            for key in candidates:
                yield Completion(key + quote + "]", start_position=-len(prefix), display=key)

    return KeyCompleter()


def run_bpython(namespace: dict[str, Any], banner: str, history_dir: Path | None) -> None:
    """bpython as it comes (it offers no hook for a savepoint per statement)."""
    import bpython

    bpython.embed(locals_=namespace, banner=banner)


def run_python(namespace: dict[str, Any], banner: str, history_dir: Path | None) -> None:
    """The standard console, with readline completion of names, history and a savepoint per statement."""
    import code

    savepoints = StatementSavepoints(lambda: namespace.get("env"))

    class Console(code.InteractiveConsole):
        def runcode(self, compiled: Any) -> None:
            savepoints.begin()
            failed = False
            try:
                exec(compiled, self.locals)
            except SystemExit:
                raise
            except BaseException:  # KeyboardInterrupt included: the query was cancelled, the shell goes on
                failed = True
                self.showtraceback()
            finally:
                savepoints.end(failed)

    history = history_dir / "python_history" if history_dir is not None else None
    with _readline(namespace, history):
        Console(namespace).interact(banner=banner, exitmsg="")


@contextlib.contextmanager
def _readline(namespace: dict[str, Any], history: Path | None) -> Iterator[None]:
    """Tab completion over the namespace and a per-project history for the plain REPL."""
    try:
        import readline
        import rlcompleter
    except ImportError:  # pragma: no cover - platforms without readline
        yield
        return
    readline.set_completer(rlcompleter.Completer(namespace).complete)
    readline.parse_and_bind("tab: complete")
    if history is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    try:
        yield
    finally:
        if history is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)


def run_startup_files(namespace: dict[str, Any], files: Iterable[str], savepoints: StatementSavepoints) -> None:
    """Run each file in the namespace, as the REPL would run its text (a failure is shown, the shell goes on)."""
    import traceback

    for path in files:
        savepoints.begin()
        failed = False
        try:
            source = Path(path).read_text()
            exec(compile(source, path, "exec"), namespace)
        except SystemExit:
            raise
        except BaseException as exc:
            failed = True
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        finally:
            savepoints.end(failed)


def python_startup() -> list[str]:
    """``$PYTHONSTARTUP`` when it names a file, as Python's own REPL reads it."""
    startup = os.environ.get("PYTHONSTARTUP")
    return [startup] if startup and os.path.isfile(startup) else []
