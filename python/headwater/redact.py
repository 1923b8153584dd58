"""Secrets out of every text headwater shows: the one redaction rule.

Everything that shows options, partition specs, URLs or a driver's message (error messages,
``repr``, log lines, ``explain()``) goes through this module; nothing else decides what a secret is.

Names. An option (or spec key, or URL parameter) is a secret when its name, split into parts at
non-alphanumerics and camelCase boundaries and compared case-insensitively, has a part that is a
credential word (``pwd``, ``pass``, ``key``, ``auth``, ``session``, ``private``, ``sig``, ...) or
when the name with separators removed contains a credential word (``password``, ``passwd``,
``secret``, ``token``, ``credential``, ``apikey``, ``accesskey``, ``authorization``, ``cookie``,
``bearer``, ``signature``, ...). This is a superset of the names Spark redacts by default
(``spark.redaction.regex`` = ``(?i)secret|password|token|access[.]?key``).

Values. In every other string value, and in URLs: the password of ``scheme://user:password@host``
(any scheme; the password may hold ``/``, ``@``, ``:`` or spaces), Oracle's ``user/password@``,
and the value of every secret-named parameter (``?password=``, ``;password=``, ``&pwd=``, SQL
Server's ``{...}`` values, MySQL's ``(password=...)``), also when percent-encoded, and
``Bearer``/``Basic`` credentials.

This module needs only the standard library: :mod:`headwater.spark` (shipped to Spark executors
by value) uses it too.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional
from urllib.parse import quote, unquote

__all__ = ["REDACTED", "is_secret_name", "redact", "redact_url", "redact_text", "scrub"]

#: What a secret is replaced with wherever it would be shown.
REDACTED = "***"

# Words that make a name secret wherever they appear in it (separators removed, lower case).
_SECRET_SUBSTRINGS = (
    "password", "passwd", "passphrase", "passcode", "secret", "token", "credential", "apikey", "accesskey",
    "privatekey", "secretkey", "clientkey", "authorization", "authentication", "bearer", "cookie", "signature",
    "sessionid", "sessionkey", "connectionstring", "sastoken", "oauth",
)
# Words that make a name secret when they are one of its parts ("primary_key", "apiKey", "x-auth").
_SECRET_PARTS = frozenset((
    "pwd", "pw", "pass", "passw", "key", "keys", "auth", "authn", "authz", "session", "private", "sig", "sas",
    "cred", "creds", "jwt", "otp", "pin", "hmac", "cert", "certificate", "pem", "pfx", "jks", "keystore",
    "truststore",
))
# Parts that only look like credential words.
_NOT_SECRET_PARTS = frozenset(("author", "authors", "authority", "keyspace", "passthrough"))

_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_secret_name(name: Any) -> bool:
    """True when an option, spec key or URL parameter named ``name`` holds a credential."""
    text = str(name)
    parts = [p.lower() for p in _PARTS.findall(text)]
    if any(p in _SECRET_PARTS for p in parts):
        return True
    compact = "".join(p for p in parts if p not in _NOT_SECRET_PARTS)
    return any(w in compact for w in _SECRET_SUBSTRINGS)


# ---- URL and free-text shapes -------------------------------------------------------------------

_COLON = r"(?::|%3[Aa])"
_AT = r"(?:@|%40)"
_EQ = r"(?:=|%3[Dd])"
# scheme://user:password@host (jdbc:postgresql://, mysql://, https://, ...); also percent-encoded
# (scheme%3A%2F%2Fuser%3Apassword%40host). The password runs to the last '@' of the line: a '/', '@',
# ':' or space in a password must not end it early (the text after it may be shown in full only when
# it cannot be the password).
_USERINFO = re.compile(r"(?i)((?://|%2F%2F)[^/:@\s'\"]*?" + _COLON + r")(.*)(" + _AT + r")(?=[^@\n]*$)", re.M)
# Oracle: jdbc:oracle:thin:user/password@host...
_ORACLE = re.compile(r"(?i)(jdbc:oracle:[a-z0-9]+:[^/@\s:'\"]*/)(.*)(@)(?=[^@\n]*$)", re.M)
# A malformed JDBC URL without '//': jdbc:kind:user:password@host (the password to the last '@').
_BARE_JDBC_USERINFO = re.compile(r"(?is)^(\s*jdbc:[^:]*:[^:/@]*:)(.*)(@[^@]*)$")
# name=value parameters (URL query, JDBC properties, connection strings); name is tested by is_secret_name.
_PARAM = re.compile(r"(?i)(^|[?&;(\s,'\"{]|%26|%3[Ff]|%3[Bb])([A-Za-z_][A-Za-z0-9_.\-]*)(\s*" + _EQ + r"\s*)")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token|digest|negotiate)(\s+)[A-Za-z0-9._~+/=\-]{4,}")


def _param_value_end(text: str, start: int, opener: str, free: bool) -> int:
    """Where the value of a parameter that starts at ``start`` ends. ``free``: ``text`` is a message,
    not one value (then a quote ends a value too)."""
    i = start
    if text.startswith("{", start):  # SQL Server: password={a;b}, then to the separator
        close = text.find("}", start)
        if close < 0:
            return len(text)
        i = close + 1
    stops = "&;\n"
    if opener == "(":
        stops += ")"
    if free:  # a message: a quote ends the value too (not a space: passwords may hold spaces)
        stops += "'\""
    while i < len(text) and text[i] not in stops and not text.startswith(("%26", "%3B", "%3b"), i):
        i += 1
    return i


def _redact_params(text: str, free: bool) -> str:
    out, pos = [], 0
    for m in _PARAM.finditer(text):
        if m.start() < pos or not is_secret_name(m.group(2)):
            continue
        start = m.end()
        end = _param_value_end(text, start, m.group(1), free)
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _redact_shapes(text: str, free: bool) -> str:
    if not text:
        return text
    # parameters first: an '@' in a parameter's value must not look like the end of a user-info
    text = _redact_params(text, free)
    text, n = _USERINFO.subn(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text, n2 = _ORACLE.subn(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    if not free and not n + n2:  # a malformed JDBC URL: jdbc:kind:user:password@host (no //)
        text = _BARE_JDBC_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _redact(text: str, free: bool) -> str:
    out = _redact_shapes(text, free)
    if "%" in out:  # a URL percent-encoded inside another: if decoding shows more, show it decoded
        decoded = unquote(out)
        again = _redact_shapes(decoded, free)
        if again != decoded:
            return again
    return out


def redact_url(url: str) -> str:
    """``url`` (one value: a URL or a connection string) with its credentials as ``***``."""
    return _redact(str(url), free=False)


def redact_text(text: str) -> str:
    """A message (which may quote URLs, ``name=value`` pairs or headers) with credentials as ``***``."""
    return _redact(str(text), free=True)


def redact(value: Any) -> Any:
    """A copy of ``value`` fit to be shown: every dict entry whose key is a secret name has its
    value replaced by ``***`` (at any depth), and every other string has the credentials of the
    URLs and parameters in it replaced (:func:`redact_url`)."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_name(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


def scrub(text: str, secrets: Iterable[Optional[str]], *, value: bool = False) -> str:
    """``text`` with every known secret of 3 or more characters (as given and percent-encoded)
    replaced by ``***``, then
    :func:`redact_text` (:func:`redact_url` when ``value``: ``text`` is one URL). For drivers'
    messages, which may quote the connection string."""
    text = str(text)
    for s in secrets:
        if s and len(s) >= 3:  # replacing one or two characters everywhere would only garble the text
            for form in sorted({s, quote(s, safe=""), quote(s), quote(s, safe="").lower()}, key=len, reverse=True):
                text = text.replace(form, REDACTED)
    return redact_url(text) if value else redact_text(text)
