"""JDBC URLs: parsing, credentials, redaction, and the connection strings each backend wants.

Understood forms::

    jdbc:postgresql://host[:port][/database][?param=value&...]   (also jdbc:postgresql:database)
    jdbc:sqlite:/path/file.db   jdbc:sqlite:relative.db   jdbc:sqlite::memory:   jdbc:sqlite:file:x.db?mode=ro
    jdbc:mysql://[user[:password]@]host[:port]/database[?params]
    jdbc:sqlserver://host[:port][;databaseName=db;user=u;password=p;...]

``user`` and ``password`` come from the options first, else from the URL. The password is kept
out of ``repr`` and of every text headwater shows: :meth:`JdbcUrl.redacted` and :meth:`JdbcUrl.scrub`,
which apply :mod:`headwater.redact` (the one redaction rule) and remove this URL's own password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import parse_qsl, quote, unquote

from headwater.errors import AnalysisException
from headwater.redact import REDACTED, redact_url, scrub

__all__ = ["JdbcUrl", "parse_url", "scrub", "redact_url"]

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "sqlserver": 1433}


def _bad(url: str, why: str) -> AnalysisException:
    """HW_JDBC_INVALID_URL with the URL redacted; a part of the URL quoted in ``why`` that the
    redacted URL does not show (a piece of a password a malformed URL let through) is masked too."""
    shown = redact_url(url)
    why = re.sub(r"'([^']*)'", lambda m: m.group(0) if m.group(1) in shown or m.group(1) not in url
                 else f"'{REDACTED}'", why)
    return AnalysisException(f"Invalid JDBC URL '{shown}': {why}", "HW_JDBC_INVALID_URL")


@dataclass(frozen=True)
class JdbcUrl:
    """A parsed JDBC URL with its credentials. ``password`` never appears in ``repr``.

    Attributes
    ----------
    url : str
        The URL as given.
    kind : str
        The subprotocol: ``postgresql``, ``sqlite``, ``mysql``, ``sqlserver``, or another name.
    host, port, database : optional
        Server and database (``database`` is the file path for SQLite).
    params : dict
        The URL's parameters, without user and password.
    user, password : optional
        From the options, else from the URL.
    """

    url: str
    kind: str
    host: Optional[str] = None
    port: Optional[int] = None
    database: Optional[str] = None
    params: Dict[str, str] = field(default_factory=dict)
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"JdbcUrl({self.redacted()!r}, user={self.user!r}, password={REDACTED if self.password else None})"

    __str__ = __repr__

    def redacted(self) -> str:
        """The URL with its password shown as ``***``."""
        return scrub(self.url, [self.password], value=True)

    def scrub(self, text: str) -> str:
        """``text`` with this URL's password removed (see :func:`scrub`)."""
        return scrub(text, [self.password])

    @property
    def is_memory(self) -> bool:
        return self.kind == "sqlite" and self.database in (":memory:", "")

    # ---- connection strings per backend

    def _userinfo(self) -> str:
        if not self.user:
            return ""
        pw = f":{quote(self.password, safe='')}" if self.password else ""
        return f"{quote(self.user, safe='')}{pw}@"

    def libpq_params(self) -> Dict[str, str]:
        """PostgreSQL connection parameters for libpq (psycopg): pgJDBC's parameter names mapped
        to libpq's where they differ; parameters libpq does not know are left out."""
        out: Dict[str, str] = {"host": self.host or "localhost", "port": str(self.port or 5432)}
        if self.database:
            out["dbname"] = self.database
        if self.user:
            out["user"] = self.user
        if self.password:
            out["password"] = self.password
        p = {k.lower(): v for k, v in self.params.items()}
        if p.get("ssl", "").lower() == "true" and "sslmode" not in p:
            out["sslmode"] = "require"
        for jdbc_name, libpq_name in (("sslmode", "sslmode"), ("sslrootcert", "sslrootcert"), ("sslcert", "sslcert"),
                                      ("sslkey", "sslkey"), ("applicationname", "application_name"),
                                      ("application_name", "application_name"), ("connecttimeout", "connect_timeout"),
                                      ("connect_timeout", "connect_timeout"), ("logintimeout", "connect_timeout"),
                                      ("options", "options"), ("targetservertype", "target_session_attrs")):
            if jdbc_name in p:
                out[libpq_name] = p[jdbc_name]
        if "currentschema" in p:
            out["options"] = (out.get("options", "") + f" -c search_path={p['currentschema']}").strip()
        return out

    def postgres_uri(self, settings: Optional[Dict[str, str]] = None) -> str:
        """A ``postgresql://`` URI for libpq-based drivers (ConnectorX, ADBC); ``settings`` are
        server settings every connection starts with (libpq's ``options=-c name=value``)."""
        params = self.libpq_params()
        if settings:
            extra = " ".join("-c " + f"{k}={v}".replace("\\", "\\\\").replace(" ", "\\ ") for k, v in settings.items())
            params["options"] = (params.get("options", "") + " " + extra).strip()
        base = f"postgresql://{self._userinfo()}{params.pop('host')}:{params.pop('port')}/{quote(params.pop('dbname', ''))}"
        params.pop("user", None)
        params.pop("password", None)
        if params:
            base += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return base

    def sqlite_path(self) -> str:
        """The SQLite database: an absolute file path, ``:memory:``, or a ``file:`` URI."""
        db = self.database or ""
        if db.startswith("file:") or self.is_memory:
            return db
        return os.path.abspath(db)

    def connectorx_uri(self) -> str:
        if self.kind == "postgresql":
            return self.postgres_uri()
        if self.kind == "sqlite":
            return "sqlite://" + quote(self.sqlite_path())
        if self.kind == "mysql":
            return f"mysql://{self._userinfo()}{self.host}:{self.port}/{quote(self.database or '')}"
        if self.kind == "sqlserver":
            return f"mssql://{self._userinfo()}{self.host}:{self.port}/{quote(self.database or '')}"
        raise _bad(self.url, f"ConnectorX has no driver for '{self.kind}'")


def _split_params(query: str, url: str) -> Dict[str, str]:
    try:
        return dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise _bad(url, "cannot parse the parameters") from None


def _host_port(hostport: str, kind: str, url: str):
    if not hostport:
        return "localhost", _DEFAULT_PORTS.get(kind)
    if hostport.startswith("["):  # [ipv6]:port
        end = hostport.find("]")
        if end < 0:
            raise _bad(url, "unclosed '[' in the host")
        host, rest = hostport[1:end], hostport[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _bad(url, f"the port '{port_text}' is not a number between 1 and 65535")
        return host, int(port_text)
    return host, _DEFAULT_PORTS.get(kind)


def parse_url(url: str, user: Optional[str] = None, password: Optional[str] = None) -> JdbcUrl:
    """Parse a JDBC URL; ``user``/``password`` (from the options) win over the URL's.

    Raises
    ------
    AnalysisException
        ``HW_JDBC_INVALID_URL`` naming what is wrong (the password shown as ``***``).
    """
    if not isinstance(url, str) or not url.strip():
        raise AnalysisException("Option 'url' is required.", "HW_JDBC_MISSING_OPTION")
    url = url.strip()
    if not url.lower().startswith("jdbc:"):
        raise _bad(url, "a JDBC URL starts with 'jdbc:', e.g. jdbc:postgresql://host:5432/db or jdbc:sqlite:/path/file.db")
    rest = url[5:]
    kind, sep, body = rest.partition(":")
    kind = kind.lower()
    if not sep or not kind:
        raise _bad(url, "no database type after 'jdbc:'")
    if kind == "sqlite":
        if not body:
            raise _bad(url, "no database file after 'jdbc:sqlite:' (use jdbc:sqlite::memory: for an in-memory one)")
        return JdbcUrl(url, kind, database=body, user=user, password=password)
    if kind == "sqlserver":
        if not body.startswith("//"):
            raise _bad(url, "expected jdbc:sqlserver://host[:port][;property=value...]")
        hostport, *props = body[2:].split(";")
        params = {}
        for p in props:
            if not p:
                continue
            k, eq, v = p.partition("=")
            if not eq:
                raise _bad(url, f"the property '{k}' has no '=value'")
            params[k] = v
        host, port = _host_port(hostport.split("\\")[0], kind, url)
        low = {k.lower(): k for k in params}
        database = params.pop(low["databasename"], None) if "databasename" in low else params.pop(low.get("database", ""), None)
        url_user = params.pop(low["user"], None) if "user" in low else None
        url_password = params.pop(low["password"], None) if "password" in low else None
        return JdbcUrl(url, kind, host, port, database, params, user or url_user, password if password is not None else url_password)
    if kind in ("postgresql", "mysql") or body.startswith("//"):
        if body.startswith("//"):
            rest = body[2:]
            # user:password@ ends at the last '@' before the query: a password may hold '/', '@',
            # ':' or spaces (percent-encoding them is not required by every driver)
            at = rest.partition("?")[0].rfind("@")
            userinfo, rest = (rest[:at + 1], rest[at + 1:]) if at >= 0 else ("", rest)
            authority, slash, path_query = rest.partition("/")
            path, _, query = path_query.partition("?")
            if not slash and "?" in authority:
                authority, _, query = authority.partition("?")
            authority = userinfo + authority
        elif kind == "postgresql":  # jdbc:postgresql:database
            authority, (path, _, query) = "", body.partition("?")
        else:
            raise _bad(url, f"expected jdbc:{kind}://host[:port]/database")
        url_user = url_password = None
        if "@" in authority:
            userinfo, _, authority = authority.rpartition("@")
            u, colon, pw = userinfo.partition(":")
            url_user, url_password = unquote(u), (unquote(pw) if colon else None)
        if "," in authority:
            authority = authority.split(",")[0]  # pgJDBC's failover hosts: the first one
        host, port = _host_port(authority, kind, url)
        params = _split_params(query, url)
        low = {k.lower(): k for k in params}
        if "user" in low:
            url_user = params.pop(low["user"])
        if "password" in low:
            url_password = params.pop(low["password"])
        if kind == "postgresql" and not path:
            path = ""  # libpq's default: the user's name
        return JdbcUrl(url, kind, host, port, unquote(path) or None, params,
                       user if user is not None else url_user,
                       password if password is not None else url_password)
    return JdbcUrl(url, kind, user=user, password=password)
