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
# the last '@' before the host (a password may itself hold '@' or ':').
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^\s/]*)(?P<tail>@)")

_registered: set[str] = set()


def redact_uri(uri: str) -> str:
    """`uri` with the password of its user part replaced by `***` (nothing else changes)."""
    return _USERINFO.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", uri)


def password_of(uri: str) -> str | None:
    """The password in a URL's user part, or None."""
    try:
        return urlsplit(uri).password or None
    except ValueError:  # a malformed port: the regex still finds the user part
        m = _USERINFO.search(uri)
        return m["password"] if m and m["password"] else None


def register(secret: str | None) -> None:
    """A secret known from elsewhere (a sweep file's `storage:` password) that `scrub` must mask too."""
    if secret:
        _registered.update({secret, unquote(secret)})


def known_secrets() -> list[str]:
    """Every secret this process knows of, longest first (so one that contains another is masked whole)."""
    found = set(_registered)
    for name in SECRET_VARIABLES:
        if os.environ.get(name):
            found.add(os.environ[name])
    for name in URL_VARIABLES:
        pw = password_of(os.environ.get(name, ""))
        if pw:
            found.update({pw, unquote(pw)})  # as written in the URL, and as the server receives it
    # A one- or two-character "secret" would mask half of every message; such a password is no secret.
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str) -> str:
    """`text` with every URL password and every known secret replaced by `***`."""
    text = redact_uri(text)
    for secret in known_secrets():
        text = text.replace(secret, MASK)
    return text
