"""Keep secrets out of logs, messages, rows and error text."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """The URL with any password (or token used as user name) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:***" if ":" in userinfo else "***"
    return urlunsplit(parts._replace(netloc=f"{masked}@{host}"))


def redact_text(text: str) -> str:
    """Text with credentials inside any URL it contains replaced by `***`."""
    return _USERINFO.sub(_mask_userinfo, text)


def _mask_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if userinfo == "***" or userinfo.endswith(":***"):  # already redacted: keep the user name visible
        return match.group(0)
    return f"{match.group('scheme')}***@"
