"""Store URLs: ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/DB``, and their safe form.

A password may sit in a URL (or its ``?password=`` parameter); everything shown to a
person (logs, errors, the API) goes through :func:`redact` first.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_QUERY_PASSWORD = re.compile(r"(?i)(^|&)(password=)[^&]*")


def scheme(url: str) -> str:
    """``"postgresql://u@h/db"`` → ``"postgresql"``; ``""`` when there is none."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def sqlite_url(path: Path | str) -> str:
    """The URL of a state file: ``sqlite:///var/s.sqlite`` (relative), ``sqlite:////abs/s.sqlite``.

    >>> sqlite_path(sqlite_url("/srv/s.sqlite"))
    '/srv/s.sqlite'
    """
    return f"{SQLITE_PREFIX}{path}"


def sqlite_path(url: str) -> str:
    """The file (or ``:memory:``) a ``sqlite:///`` URL names.

    >>> sqlite_path("sqlite:///var/meshpulse.sqlite"), sqlite_path("sqlite:////srv/m.sqlite")
    ('var/meshpulse.sqlite', '/srv/m.sqlite')
    """
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise ValueError("a SQLite state_url is sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH")
    return url[len(SQLITE_PREFIX) :]


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for logs and the API.

    >>> redact("postgresql://meshpulse:s3cret@db:5432/meshpulse?sslmode=require&password=x")
    'postgresql://meshpulse:***@db:5432/meshpulse?sslmode=require&password=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{scheme(url) or 'unparsable'}://***"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = _QUERY_PASSWORD.sub(r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """The password(s) in ``url``, raw and percent-decoded, to scrub from error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password or ""]
    found += [m.group(0).split("=", 1)[1] for m in re.finditer(r"(?i)password=[^&]*", parts.query)]
    found += [unquote(s) for s in found]
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        # an unescaped "@" in the password makes libpq read its tail as the host, and say so
        found += [password, *(part for part in password.split("@") if len(part) >= 4)]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (say, a driver's error) with every password of ``url`` replaced by ``***``."""
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text
