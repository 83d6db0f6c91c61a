"""What the sweep prints beside the Ray dashboard URL: how to get past Ray's token login.

Ray 2.60 turns token authentication on for every Ray that `ray.init()` starts (unless
RAY_AUTH_MODE says otherwise), and its dashboard then shows "Authentication Token Required"
on every page. Ray reads the token from RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH,
else ~/.ray/auth_token (written by the first such `ray.init()`); `ray get-auth-token` prints
it the same way. The dashboard takes the token only in its login form (which sets the HttpOnly
cookie `ray-authentication-token`) or an `Authorization: Bearer` header, never in the URL,
so there is no log-in URL to print. The sweep prints the command, not the token: sweep logs
get shared.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
TOKEN_MODE = "token"  # Ray's name for the mode; "disabled" is the other
AUTH_MODE_ENDPOINT = "/api/authentication_mode"  # public: the dashboard's page asks it first
QUERY_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class DashboardAuth:
    """What Ray reports about the dashboard's login, and where this driver's token is.

    mode: Ray's authentication mode ("token" or "disabled"); token_env: RAY_AUTH_TOKEN is
    set (it wins over any file); token_path: RAY_AUTH_TOKEN_PATH, when set.
    """

    mode: str
    token_env: bool = False
    token_path: str | None = None


def dashboard_lines(url: str, *, auth: DashboardAuth, ray_cli: str = "ray") -> list[str]:
    """The lines the sweep prints for the dashboard at `url`.

    Without token auth, the URL alone. With it, also how to get the token: the command that
    prints it (`ray_cli` is the `ray` executable to name), or the variable that holds it.
    """
    if auth.mode != TOKEN_MODE:
        return [f"Ray dashboard: {url}"]
    if auth.token_env:
        return [f"Ray dashboard: {url}  (asks for a token: log in with this sweep's ${TOKEN_ENV})"]
    command = f"{shlex.quote(ray_cli)} get-auth-token"
    if auth.token_path:
        command = f"env {TOKEN_PATH_ENV}={shlex.quote(auth.token_path)} {command}"
    return [f"Ray dashboard: {url}  (asks for a token: log in with what the command below prints)",
            f"Ray token:     {command}"]


def query_auth(url: str, *, timeout_s: float = QUERY_TIMEOUT_S) -> DashboardAuth:
    """Ask the running Ray whether its dashboard at `url` wants a token, and read where this
    process's token comes from (the environment)."""
    mode = _dashboard_mode(url, timeout_s=timeout_s) or _driver_mode()
    return DashboardAuth(mode=mode, token_env=bool(os.environ.get(TOKEN_ENV)),
                         token_path=os.environ.get(TOKEN_PATH_ENV) or None)


def _dashboard_mode(url: str, *, timeout_s: float) -> str | None:
    """The mode the dashboard enforces, as its own page learns it; None if it does not answer."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + AUTH_MODE_ENDPOINT, timeout=timeout_s) as response:
            return str(json.load(response)["authentication_mode"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _driver_mode() -> str:
    """This driver's Ray authentication mode (its connection to Ray uses the same one)."""
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    return TOKEN_MODE if is_token_auth_enabled() else "disabled"


def ray_cli() -> str:
    """The `ray` executable of this interpreter's environment: bare `ray` when that is the one
    on PATH, else its full path (`make demo` runs the venv without activating it)."""
    beside = Path(sys.executable).with_name("ray")
    if not beside.is_file():
        return "ray"
    on_path = shutil.which("ray")
    return "ray" if on_path and Path(on_path).resolve() == beside.resolve() else str(beside)


def login_lines(url: str) -> list[str]:
    """`dashboard_lines` for the running Ray's dashboard at `url`."""
    return dashboard_lines(url, auth=query_auth(url), ray_cli=ray_cli())
