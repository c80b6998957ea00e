"""``--dev reload``: watch the module folders and ask the server to restart when code changes."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .signals import RELOAD, SignalQueue

if TYPE_CHECKING:
    from ...config import Config

logger = logging.getLogger(__name__)

WATCHED_SUFFIXES = frozenset({".py", ".sql", ".csv", ".json", ".xml", ".toml", ".j2", ".jinja"})


def _is_code(path: str) -> bool:
    file = Path(path)
    return file.suffix in WATCHED_SUFFIXES and "static" not in file.parts


class CodeWatcher:
    """Watches module folders (watchfiles) and calls *on_change* once when code or data files change."""

    def __init__(self, paths: Iterable[Path], on_change: Callable[[list[str]], None]) -> None:
        self.paths = [path for path in paths if path.is_dir()]
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import watchfiles  # only with --dev reload

        def run() -> None:
            for changes in watchfiles.watch(*self.paths, stop_event=self._stop, debounce=400, step=50,
                                            rust_timeout=500, raise_interrupt=False):
                changed = sorted(path for _change, path in changes if _is_code(path))
                if changed:
                    self.on_change(changed)
                    return

        if self.paths:
            self._thread = threading.Thread(target=run, name="devshell-reloader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def watch_for_reload(config: "Config", signals: SignalQueue) -> CodeWatcher | None:
    """With ``--dev reload``, a started watcher that queues RELOAD on *signals* at the first change."""
    if not {"reload", "all"} & set(config["dev"]):
        return None
    from ...modules import addons_paths

    def changed(paths: list[str]) -> None:
        logger.info("changed: %s", ", ".join(paths))
        signals.put(RELOAD)

    watcher = CodeWatcher(addons_paths(config), changed)
    watcher.start()
    return watcher
