"""Secrets never shown: passwords in store URLs and credentials in the environment, masked in every
message, log line, tag and file the harness writes.

A team's tracking URI (`postgresql+psycopg://user:PASSWORD@host/db`), a sweep's storage URL and
MLflow's basic-auth variables carry passwords. The harness passes them to child processes and jobs
through the environment only (never on a command line, where `ps` shows them, nor in a pickled job
file), and everything it prints or records goes through `scrub`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

MASK = "***"

# Variables whose whole value is a secret, and variables that hold a URL whose password is one.
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "PGPASSWORD",
)
URL_VARIABLES = ("MLFLOW_TRACKING_URI", "HARNESS_SWEEP_STORAGE", "MLFLOW_BACKEND_STORE_URI")

# scheme://user:password@host: the password is everything between the first ':' after the user and
# the last '@' of the address (a password may itself hold '@', ':' or '/', which a client may take as it
# is: `postgresql://u:sec/ret@host/db`). An '@' later in the path is taken as the end too: a path is
# masked rather than a password shown.
_USERINFO = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>\S*)(?P<tail>@)(?=[^\s@]*(?:\s|$))"
)
# scheme://TOKEN@host: a user part with no password is often a token used as the user name
# (`https://ghp_...@github.com/`); it is masked whole.
_USER_ONLY = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s?#]+)(?P<tail>@)")

# ?password=...&token=...#token=...: a query (or fragment) parameter whose name says it holds a
# credential (libpq takes `password` and `sslpassword` there, HTTP stores take tokens and signed keys,
# an Azure SAS signs with `sig`, an OAuth redirect puts `access_token` in the fragment); its value runs
# to the next separator, quote or blank.
_CREDENTIAL_NAME = (
    r"(?:[A-Za-z0-9_.\-]*(?:pass|pwd|token|secret|key|auth|signature|credential)[A-Za-z0-9_.\-]*|sig)"
)
_QUERY_SECRET = re.compile(rf"(?P<head>[?&;#]{_CREDENTIAL_NAME}=)(?P<value>[^&;#\s'\"()<>]+)", re.IGNORECASE)

_registered: set[str] = set()


def redact_uri(uri: str) -> str:
    """`uri` with the password of its user part (or a user part that is a name alone, often a token),
    and every credential in its query or fragment replaced by `***` (nothing else changes). The one
    function every message, tag and file goes through (`scrub`)."""
    uri = _USERINFO.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", uri)
    uri = _USER_ONLY.sub(lambda m: m[0] if m["user"] == MASK else f"{m['head']}{MASK}{m['tail']}", uri)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", uri)


def query_secrets(uri: str) -> list[str]:
    """The values of a URL's query parameters whose names say they hold credentials."""
    return [m["value"] for m in _QUERY_SECRET.finditer(uri)]


def fragments(secret: str) -> list[str]:
    """`secret` and, where it holds an unescaped `@`, every run of its `@`-separated pieces: a client
    that splits the URL at the first `@` (libpq) names the rest as the host it failed to resolve."""
    pieces = secret.split("@")
    return [
        secret,
        *("@".join(pieces[i:j]) for i in range(len(pieces)) for j in range(i + 1, len(pieces) + 1)),
    ]


def password_of(uri: str) -> str | None:
    """The password in a URL's user part (up to its address's last `@`, `/` and all), or None. A user
    part that is a name alone is masked in the URL (`redact_uri`) but not hunted for elsewhere: a plain
    user name (`postgres`) would mask every word that holds it."""
    m = _USERINFO.search(uri)
    if m:
        return m["password"] or None
    try:
        return urlsplit(uri).password or None
    except ValueError:
        return None


def register(secret: str | None) -> None:
    """A secret known from elsewhere (a sweep file's `storage:` password) that `scrub` must mask too."""
    if secret:
        _registered.update(p for piece in fragments(secret) for p in (piece, unquote(piece)))


def register_uri(uri: str) -> None:
    """The password and the query credentials of a URL known from elsewhere, for `scrub` to mask."""
    for secret in [password_of(uri), *query_secrets(uri)]:
        register(secret)


def known_secrets() -> list[str]:
    """Every secret this process knows of, longest first (so one that contains another is masked whole)."""
    found = set(_registered)
    for name in SECRET_VARIABLES:
        if os.environ.get(name):
            found.add(os.environ[name])
    for name in URL_VARIABLES:
        uri = os.environ.get(name, "")
        for pw in filter(None, [password_of(uri), *query_secrets(uri)]):
            for piece in fragments(pw):  # as written in the URL, and as the server receives it
                found.update({piece, unquote(piece)})
    # A one- or two-character "secret" would mask half of every message; such a password is no secret.
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str) -> str:
    """`text` with every URL password and every known secret replaced by `***`."""
    text = redact_uri(text)
    for secret in known_secrets():
        text = text.replace(secret, MASK)
    return text
