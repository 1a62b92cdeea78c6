"""Git sources: `ragfleet enqueue repo URL [--ref REF]` fetches a shallow copy into a cache, then walks it.

Decisions:
- One cache directory per URL (`git.cache_dir`, default `<state_dir>/git/<name>-<sha256(url)[:16]>`). The
  first run is `git init` + `git fetch --depth 1 origin <ref or HEAD>` + a detached checkout of what was
  fetched, into a temporary directory renamed into place only on success; a re-index fetches the same
  way into the existing copy, then checks it out with `--force` and `git clean -ffdx`, so the tree is
  exactly the fetched commit and the ordinary hash-based sync does the rest. `init + fetch` rather than
  `clone --branch` because it is one code path for branches, tags and full commit SHAs (a server must
  allow fetching a SHA: GitHub, GitLab and git's protocol v2 do; an abbreviated SHA cannot be fetched).
- Every user-supplied string reaches git after `--`, so `--upload-pack=...` is a (missing) repository,
  never an option; a ref must look like a ref (no `:`, no leading `-`, `+` or `^`).
- Credentials come only from settings (`RAGFLEET_GIT__TOKEN`, or `RAGFLEET_GIT__TOKENS` per host), never
  from the URL: a URL that carries `user:password@` or `token@` is refused with a message naming the
  setting. The token reaches git as an `Authorization` header through git's environment config
  (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`, scoped to the URL's scheme and host) — never argv, where `ps` would
  show it — and only over https (or http to a loopback host). Git runs with prompts off
  (`GIT_TERMINAL_PROMPT=0`, an empty `GIT_ASKPASS`, ssh in batch mode), tracing variables removed, and
  every error text is scrubbed of the token before it is raised.
- Failures are classified from git's own (C locale) messages: AuthenticationError, NotFoundError (the
  repository, or the ref), SourceUnreachableError (DNS, refused, timed out, `git.timeout_s`).
Limits: no submodules, and Git LFS files stay pointers; an old shallow copy keeps its previous commits'
objects until `git gc` runs in it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.errors import (
    AuthenticationError,
    BadInputError,
    ConfigurationError,
    NotFoundError,
    PermanentError,
    SourceUnreachableError,
)
from shared.redact import redact_text, redact_url
from shared.settings import Settings

URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!//)\S")  # git@github.com:org/repo.git
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
# Removed from git's environment: tracing can print request headers; outside config could add a helper.
_DROPPED_ENV = ("GIT_TRACE", "GIT_CURL_VERBOSE", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")

# (class, phrases in git's stderr) — checked in this order; the first match decides.
_AUTH = ("authentication failed", "could not read username", "could not read password", "terminal prompts disabled",
         "permission denied (publickey", "returned error: 401", "returned error: 403", "invalid credentials",
         "access denied", "host key verification failed")  # fmt: skip
_BAD_REF = ("couldn't find remote ref", "remote branch", "not our ref", "unadvertised object", "invalid refspec",
            "no such remote ref")  # fmt: skip
_NOT_FOUND = ("repository not found", "does not appear to be a git repository", "does not exist",
              "returned error: 404", "not found")  # fmt: skip
_UNREACHABLE = ("could not resolve host", "failed to connect", "connection refused", "connection timed out",
                "network is unreachable", "unable to connect", "name or service not known", "no route to host",
                "connection reset", "operation timed out", "could not read from remote repository",
                "unable to look up", "timed out")  # fmt: skip


@dataclass(frozen=True)
class Checkout:
    """A fetched working tree, ready to walk."""

    url: str
    """The URL as given (it carries no credentials: those are refused)."""
    ref: str | None
    path: Path
    commit: str
    name: str
    """The repo name the URL suggests (its last path part, without `.git`)."""

    @property
    def source(self) -> str:
        """Where the repo was read from, as recorded in `repos.root`: the URL, with `#ref` when one was asked."""
        return f"{self.url}#{self.ref}" if self.ref else self.url


def is_git_url(text: str) -> bool:
    """True for what `enqueue repo` clones: scheme://... with a git scheme, or scp-like user@host:path."""
    scheme, sep, _ = text.partition("://")
    if sep:
        return scheme.lower() in URL_SCHEMES
    return bool(_SCP_LIKE.match(text))


def repo_name(url: str) -> str:
    """The name a URL suggests: `https://host/org/proj.git` -> `proj`."""
    path = urlsplit(url).path if "://" in url else url.split(":", 1)[-1]
    last = path.rstrip("/").rsplit("/", 1)[-1]
    last = last.removesuffix(".git")
    return last or (urlsplit(url).hostname or "repo")


def checkout(settings: Settings, url: str, *, ref: str | None = None) -> Checkout:
    """Fetch `url` (at `ref`, default: the remote's HEAD) shallowly into its cache directory and check it out."""
    url = url.strip()
    _refuse_credentials(url)
    if ref is not None:
        _check_ref(ref)
    cache = (settings.git.cache_dir or settings.state_dir / "git").expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    name = repo_name(url)
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    target = cache / f"{_safe(name)}-{key}"
    runner = _Git(settings, url)
    with _locked(cache / f".{key}.lock"):
        if not (target / ".git").is_dir():
            staging = cache / f".{key}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            try:
                runner.run(["init", "--quiet", "--", str(staging)])
                runner.run(["-C", str(staging), "remote", "add", "origin", "--", url])
                _fetch_and_checkout(runner, staging, ref)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            staging.rename(target)
        else:
            _fetch_and_checkout(runner, target, ref)
        commit = runner.run(["-C", str(target), "rev-parse", "HEAD"]).strip()
    return Checkout(url=url, ref=ref, path=target, commit=commit, name=name)


def _fetch_and_checkout(runner: _Git, where: Path, ref: str | None) -> None:
    runner.run(["-C", str(where), "fetch", "--quiet", "--depth", "1", "--no-tags", "--", "origin", ref or "HEAD"], ref)
    runner.run(["-C", str(where), "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach",
                "FETCH_HEAD"])  # fmt: skip
    runner.run(["-C", str(where), "clean", "-ffdxq"])


class _Git:
    """Runs git for one URL: prompts off, credentials in the environment only, errors classified and scrubbed."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.url = url
        self.timeout_s = settings.git.timeout_s
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
        self.env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="",  # set but empty: git neither runs an askpass program nor falls back to SSH_ASKPASS
            SSH_ASKPASS="",
            GCM_INTERACTIVE="never",
            GIT_SSH_COMMAND=os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
            LC_ALL="C",
            LANGUAGE="C",
        )
        self.secrets: list[str] = []
        parts = urlsplit(url) if "://" in url else None
        token = settings.git.token_for(parts.hostname or "") if parts is not None else None
        self.has_token = False
        self.withheld = (
            token is not None and parts is not None and not _may_send_token(parts.scheme, parts.hostname or "")
        )
        if parts is not None and token is not None and not self.withheld:
            secret = token.get_secret_value()
            basic = base64.b64encode(f"{settings.git.username}:{secret}".encode()).decode()
            self.env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0=f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
            self.secrets = [secret, basic]
            self.has_token = True
        self.host = (parts.hostname if parts is not None else None) or url

    def run(self, args: Sequence[str], ref: str | None = None) -> str:
        """git's stdout; a classified RagfleetError naming the (redacted) URL on failure."""
        try:
            done = subprocess.run(
                ["git", *args],
                env=self.env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise ConfigurationError("git is not installed (needed to index a URL)") from None
        except subprocess.TimeoutExpired:
            raise SourceUnreachableError(
                f"{redact_url(self.url)}: git did not finish within {self.timeout_s:.0f}s (RAGFLEET_GIT__TIMEOUT_S)"
            ) from None
        if done.returncode != 0:
            raise self._classify(self._scrub(done.stderr), ref)
        return done.stdout

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact_text(text)

    def _classify(self, stderr: str, ref: str | None) -> Exception:
        lowered = stderr.lower()
        detail = _last_line(stderr)
        where = redact_url(self.url)
        if "strange pathname" in lowered:  # git's own guard against an option smuggled in as a URL
            return BadInputError(f"{where}: not a git URL or repository path: {detail}")
        if any(p in lowered for p in _AUTH):
            if self.has_token:
                hint = "the token in RAGFLEET_GIT__TOKEN(S) was refused"
            elif self.withheld:
                hint = "a token is set, but it is sent over https only (or http to localhost): use an https URL"
            else:
                hint = f"set RAGFLEET_GIT__TOKEN, or RAGFLEET_GIT__TOKENS for {self.host}"
            return AuthenticationError(f"{where}: authentication failed ({hint}): {detail}")
        if ref is not None and any(p in lowered for p in _BAD_REF):
            return NotFoundError(f"{where}: no branch, tag or fetchable commit {ref!r} (--ref): {detail}")
        if any(p in lowered for p in _NOT_FOUND):
            hint = "" if self.has_token else " (a private repository also looks like this without a token)"
            return NotFoundError(f"{where}: repository not found{hint}: {detail}")
        if any(p in lowered for p in _UNREACHABLE):
            return SourceUnreachableError(f"{where}: host unreachable: {detail}")
        return PermanentError(f"{where}: git failed: {detail}")


def _refuse_credentials(url: str) -> None:
    if "://" not in url:
        return
    try:
        parts = urlsplit(url)
        has_password, user = parts.password is not None, parts.username
    except ValueError:
        raise BadInputError(f"{redact_url(url)}: not a URL") from None
    # An ssh user name (ssh://git@host/...) is not a secret; over http(s) a user name is usually a token.
    if has_password or (user and parts.scheme.lower() in ("http", "https")):
        raise BadInputError(
            f"{redact_url(url)}: the URL carries credentials; remove them and set RAGFLEET_GIT__TOKEN "
            f"(or RAGFLEET_GIT__TOKENS for {parts.hostname}) instead, so they stay out of logs and process lists"
        )


def _check_ref(ref: str) -> None:
    if not ref or ref.startswith(("-", "+", "^")) or ":" in ref or any(c.isspace() or ord(c) < 32 for c in ref):
        raise BadInputError(f"--ref {ref!r}: not a branch, tag or commit name")


def _may_send_token(scheme: str, host: str) -> bool:
    # A token over plain http would travel in clear text; loopback is the one exception (tests, tunnels).
    return scheme == "https" or (scheme == "http" and host in _LOOPBACK)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".-")[:60] or "repo"


def _last_line(text: str) -> str:
    """git's first `fatal:`/`error:` line (what went wrong), else its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["(no message)"])[0 if fatal else -1]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One fetch per cache directory at a time (two enqueues of the same URL would trip over each other)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
