"""Where a browser reaches a notebook's background server: directly, or through jupyter-server-proxy.

Inside JupyterHub, Binder or any Jupyter server with jupyter-server-proxy, the
browser cannot reach ``127.0.0.1:PORT`` of the kernel's machine; it reaches
``{base_url}proxy/PORT/`` of the Jupyter server instead. The base URL comes from
``JUPYTERHUB_SERVICE_PREFIX`` (JupyterHub, Binder) or from the runtime file of the
Jupyter server that started this kernel (``JPY_PARENT_PID``). The server behind
the proxy trusts one proxy (``proxy_mode = 1``): the ``X-Forwarded-Prefix`` the
proxy sends becomes its script root, so its pages link under ``/proxy/PORT/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path


def jupyter_server_base_url() -> str | None:
    """The ``base_url`` of the Jupyter server whose kernel this process is, if it is one."""
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    info = Path(jupyter_runtime_dir()) / f"jpserver-{parent}.json"
    try:
        base = json.loads(info.read_text()).get("base_url")
    except (OSError, ValueError):
        return None
    return base if isinstance(base, str) else None


def proxy_base(proxy: bool | None) -> str | None:
    """The path under which the proxy serves ports (``/user/me/proxy/``), or None for direct URLs.

    *proxy* True forces the proxy (base ``/`` when nothing tells it), False never
    uses it, None detects it: a JupyterHub prefix or a parent Jupyter server, and
    jupyter-server-proxy installed.
    """
    if proxy is False:
        return None
    base = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or jupyter_server_base_url()
    if proxy is None and (base is None or importlib.util.find_spec("jupyter_server_proxy") is None):
        return None
    base = base or "/"
    return ("/" + base.strip("/") + "/").replace("//", "/") + "proxy/"
