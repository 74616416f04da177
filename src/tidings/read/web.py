"""Web pages in: fetch a URL politely and safely, extract the article with trafilatura, keep where it came from.

Why it looks the way it does:

One outbound policy for every request tidings makes (pages, feeds, webhooks; see docs/security.md):

* **Bounded in every direction.** One total deadline per request, covering connect, every redirect, the body
  and every retry with its backoff (a server that drips one byte a second is cut off at the deadline, not
  at the deadline of each attempt), a redirect limit, a retry budget, and a size limit checked against
  ``Content-Length`` and again while streaming, so a huge page costs at most ``max_bytes`` of memory.
* **Resolve once, connect to what was checked.** :func:`vet_url` resolves the host, refuses it if *any*
  address is private, loopback, link-local (cloud metadata), CGNAT, multicast or otherwise not global, and
  the request then goes to that very address (the name stays in the ``Host`` header and in TLS SNI and
  certificate checks), so a DNS answer that changes between the check and the connection (rebinding)
  cannot reach an internal address. Only ``http`` and ``https`` are allowed.
* **Redirects are followed by hand**, and every hop is vetted again: a public page that redirects to
  ``http://169.254.169.254/`` (cloud metadata) is refused like a direct request would be.
* **Private addresses only on purpose.** ``allow_private=True`` (``TIDINGS_ALLOW_PRIVATE_URLS=1``) lifts the
  address check; ``allow_networks`` (``TIDINGS_ALLOW_NETWORKS=10.1.0.0/16,...``) allows just those ranges.
* **Failures are records, not exceptions**: :meth:`WebClient.read` returns an
  :class:`~tidings.read.readers.InputFailure` with a code (E110-E118) so a batch goes on; transient ones
  (timeouts, 429, 5xx, connection errors) are retried with exponential backoff first.
* **Provenance kept**: the final URL, the outlet (the page's site name, else its host) and the publication date
  (page metadata, else the caller's fallback, e.g. a feed item's date).

Needs ``httpx`` (``pip install 'tidings[web]'``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urljoin, urlsplit, urlunsplit

from tidings.core.errors import IngestError
from tidings.read.checks import decode_text, looks_binary
from tidings.read.readers import MAX_BYTES, InputFailure, InputItem, read_html, read_text

__all__ = [
    "USER_AGENT",
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "WebClient",
    "check_public_url",
    "is_url",
    "read_url",
    "vet_url",
    "webhook_policy",
]

PROJECT_URL = "https://github.com/tidings/tidings"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _user_agent() -> str:
    from tidings.core import __version__

    return f"tidings/{__version__} (+{PROJECT_URL})"


USER_AGENT = _user_agent()


def _env_allows_private() -> bool:
    return os.environ.get("TIDINGS_ALLOW_PRIVATE_URLS", "").lower() in ("1", "true", "yes")


def _env_networks() -> tuple[str, ...]:
    return tuple(n.strip() for n in os.environ.get("TIDINGS_ALLOW_NETWORKS", "").split(",") if n.strip())


Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one request. The defaults suit news pages: a few hundred kB, served in well under a minute.

    ``deadline`` is the total for one call of :meth:`WebClient.fetch`: connecting, redirects, the body and
    every retry with its backoff. ``resolver`` (host, port → addresses) is for tests: the default is the
    system's ``getaddrinfo``.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 20.0           # between two chunks (never more than the time left)
    deadline: float = 60.0               # the whole request: redirects, body and retries included
    max_redirects: int = 5
    max_bytes: int = MAX_BYTES
    retries: int = 2                     # extra attempts after a transient failure, within the deadline
    backoff: float = 1.0                 # seconds before the first retry; doubles each time
    allow_private: bool = field(default_factory=_env_allows_private)
    allow_networks: tuple[str, ...] = field(default_factory=_env_networks)   # e.g. ("10.1.0.0/16",)
    trust_env: bool = False              # honour HTTP(S)_PROXY / NO_PROXY (then the proxy resolves: no pinning)
    resolver: Resolver | None = None


#: Webhooks: small JSON bodies to one endpoint; a slow or dead one must cost seconds, not minutes. No retries
#: inside one delivery: the outbox worker (tidings.across.watch) retries later with per-URL backoff.
WEBHOOK_POLICY_ARGS: dict[str, Any] = {"connect_timeout": 3.0, "read_timeout": 5.0, "deadline": 5.0,
                                       "max_redirects": 0, "max_bytes": 64 * 1024, "retries": 0}


def webhook_policy() -> FetchPolicy:
    """The policy for webhooks (the environment's allowances are read when it is made)."""
    return FetchPolicy(**WEBHOOK_POLICY_ARGS)


class FetchError(IngestError):
    """A URL could not be fetched; ``transient`` says whether trying again later may help."""

    default_code = "E110"

    def __init__(self, message: str, *, code: str = "E110", transient: bool = False, status: int | None = None
                 ) -> None:
        super().__init__(message, code=code)
        self.transient = transient
        self.status = status


@dataclass(frozen=True)
class FetchResult:
    """What came back: the final URL after redirects, status, headers (lower-case names) and body."""

    url: str
    requested_url: str
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"').lower()
        return None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def is_url(source: object) -> bool:
    """``http://`` or ``https://`` (what read_inputs fetches instead of opening as a path)."""
    text = str(source)
    return text[:8].lower().startswith(("http://", "https://"))


# --------------------------------------------------------------------------------------------- SSRF guard

def check_public_url(url: str, allow_private: bool = False, *, allow_networks: tuple[str, ...] = (),
                     resolver: Resolver | None = None) -> list[str]:
    """Refuse a URL whose host is, or resolves to, anything but public internet addresses.

    Every address the host resolves to is checked (an attacker's name may resolve to one public and one
    private address). Returns the addresses; raises :class:`FetchError` E115 for a refused address and E110
    for a URL that is not http(s) or a host that does not resolve. ``allow_private`` skips the address check;
    ``allow_networks`` (CIDR ranges) allows addresses in them.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url!r}", code="E110")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise FetchError(f"bad port in {url!r}", code="E110") from None
    addresses = _resolve(parts.hostname, port, resolver)
    if not addresses:
        raise FetchError(f"cannot resolve host {parts.hostname!r}", code="E110", transient=True)
    if allow_private:
        return addresses
    allowed = _networks(allow_networks)
    for address in addresses:
        if not _is_public(address) and not _in_networks(address, allowed):
            raise FetchError(
                f"refused: {parts.hostname} resolves to {address}, a private, loopback, link-local or other "
                "non-public address (set TIDINGS_ALLOW_NETWORKS to that range, or TIDINGS_ALLOW_PRIVATE_URLS=1, "
                "to reach your own network on purpose)", code="E115")
    return addresses


@dataclass(frozen=True)
class VettedURL:
    """A URL whose host was resolved and checked once, and the address the request must go to."""

    url: str             # as given (the name)
    host: str            # the name, for the Host header and TLS
    address: str         # the vetted address to connect to
    request_url: str     # url with the host replaced by address (the URL httpx connects to)
    host_header: str     # host[:port] as the server expects it


def vet_url(url: str, policy: FetchPolicy) -> VettedURL:
    """Resolve and check ``url`` (:func:`check_public_url`) and pin the request to the first vetted address."""
    addresses = check_public_url(url, policy.allow_private, allow_networks=policy.allow_networks,
                                 resolver=policy.resolver)
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    host_header = f"{host}:{parts.port}" if parts.port else host
    return VettedURL(url, host, address, urlunsplit(parts._replace(netloc=netloc)), host_header)


def _resolve(host: str, port: int, resolver: Resolver | None = None) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    if resolver is not None:
        return [str(ipaddress.ip_address(a)) for a in resolver(host, port)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r} ({exc})", code="E110", transient=True) from None
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise FetchError(f"not a network range: {cidr!r} (write it like 10.1.0.0/16)", code="E110") from None
    return out


def _in_networks(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == n.version and ip in n for n in networks)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped   # ::ffff:127.0.0.1 is loopback, whatever its IPv6 flags say
    return ip.is_global and not ip.is_multicast


# --------------------------------------------------------------------------------------------- fetching

class WebClient:
    """One HTTP connection pool with the policy applied; use as a context manager, or call :meth:`close`."""

    def __init__(self, policy: FetchPolicy | None = None, *, transport: Any = None) -> None:
        from tidings.core.extras import require

        httpx = require("httpx", "web", "Fetching URLs", code="E118", error=IngestError)
        self.policy = policy or FetchPolicy()
        p = self.policy
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=httpx.Timeout(p.read_timeout, connect=p.connect_timeout),
            follow_redirects=False, headers={"User-Agent": USER_AGENT}, transport=transport,
            trust_env=p.trust_env)

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
              accept: str = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1") -> FetchResult:
        """GET ``url`` (conditionally when validators are given: a 304 comes back as ``not_modified``),
        retrying transient failures with exponential backoff. Raises :class:`FetchError`."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.policy.deadline
        attempt = 0
        while True:
            try:
                return self._fetch_once(url, headers, deadline)
            except FetchError as exc:
                pause = self.policy.backoff * 2 ** attempt
                if (not exc.transient or attempt >= self.policy.retries
                        or time.monotonic() + pause >= deadline):
                    raise
            time.sleep(pause)
            attempt += 1

    def post_json(self, url: str, payload: Any, *, within: float | None = None) -> FetchResult:
        """POST ``payload`` as JSON under the same policy (vetted, pinned, total deadline, byte cap), in at
        most ``within`` seconds if that is shorter than the policy's deadline. Redirects are not followed (a
        webhook that moves must be configured anew). Raises :class:`FetchError`."""
        import json

        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        deadline = time.monotonic() + min(self.policy.deadline, within if within is not None else math.inf)
        location, result = self._request("POST", url, url, {"Content-Type": "application/json"}, deadline,
                                         content=body)
        if result is None:
            raise FetchError(f"the webhook answered with a redirect to {location!r} (not followed)", code="E116")
        return result

    def _fetch_once(self, url: str, headers: dict[str, str], deadline: float) -> FetchResult:
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            location, result = self._request("GET", current, url, headers, deadline)
            if result is not None:
                return result
            current = urljoin(current, location)
        raise FetchError(f"more than {self.policy.max_redirects} redirects", code="E116")

    def _request(self, method: str, url: str, requested: str, headers: dict[str, str], deadline: float, *,
                 content: bytes | None = None) -> tuple[str, FetchResult | None]:
        """One request to ``url``'s vetted address: ``(location, None)`` for a redirect, else ``("", result)``."""
        httpx = self._httpx
        p = self.policy
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"timed out (no complete answer in {p.deadline:g} s)", code="E112", transient=True)
        target, extensions, headers = url, {}, dict(headers)
        if p.trust_env:   # a proxy resolves the name itself: the address check stays, the pin cannot
            check_public_url(url, p.allow_private, allow_networks=p.allow_networks, resolver=p.resolver)
        else:
            vetted = vet_url(url, p)
            target = vetted.request_url
            headers["Host"] = vetted.host_header
            if urlsplit(url).scheme.lower() == "https":
                extensions["sni_hostname"] = vetted.host
        timeout = httpx.Timeout(min(p.read_timeout, left), connect=min(p.connect_timeout, left))
        try:
            with self._client.stream(method, target, headers=headers, content=content, timeout=timeout,
                                     extensions=extensions) as response:
                if response.status_code in _REDIRECTS and response.headers.get("location"):
                    return response.headers["location"], None
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}", code="E111",
                                     transient=response.status_code in _TRANSIENT_STATUS,
                                     status=response.status_code)
                body = self._read_body(response, deadline)
                return "", FetchResult(url, requested, response.status_code,
                                       {k.lower(): v for k, v in response.headers.items()}, body)
        except httpx.TimeoutException:
            raise FetchError("timed out", code="E112", transient=True) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FetchError(f"bad URL: {exc}", code="E110") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"network error: {exc}", code="E110", transient=True) from None

    def _read_body(self, response: Any, deadline: float) -> bytes:
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"too large ({int(declared) / 1e6:.1f} MB > {limit / 1e6:.1f} MB)", code="E113")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"too large (> {limit / 1e6:.1f} MB)", code="E113")
            if time.monotonic() > deadline:
                raise FetchError(f"timed out (no complete answer in {self.policy.deadline:g} s)", code="E112",
                                 transient=True)
            chunks.append(chunk)
        return b"".join(chunks)

    # ----------------------------------------------------------------------------------------- reading

    def read(self, url: str, *, published: str | dt.date | None = None,
             published_fallback: dt.date | None = None, outlet: str | None = None, title: str | None = None,
             meta: Mapping[str, Any] | None = None) -> InputItem:
        """Fetch ``url`` and turn it into a Document (``source_kind="url"``), or an InputFailure saying why.

        ``published`` overrides the page's date; ``published_fallback`` (a feed item's date) is used only
        when the page has none.
        """
        try:
            result = self.fetch(url)
        except FetchError as exc:
            return InputFailure(url, exc.code, exc.message)
        item = document_from_response(result, published=published, outlet=outlet, title=title)
        if isinstance(item, InputFailure):
            return item
        updates: dict[str, Any] = {"source_kind": "url", "path": None, "url": result.url}
        if item.published is None and published_fallback is not None:
            updates["published"] = published_fallback
        extra = dict(item.meta)
        if result.url != url:
            extra["requested_url"] = url
        extra.update(meta or {})
        updates["meta"] = extra
        return item.model_copy(update=updates)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def document_from_response(result: FetchResult, *, published: str | dt.date | None = None,
                           outlet: str | None = None, title: str | None = None) -> InputItem:
    """HTML through trafilatura, plain text as is; anything else is E114. The outlet falls back to the host."""
    kind = result.content_type
    data = result.content
    is_html = kind in HTML_TYPES or (not kind and data.lstrip()[:1] == b"<")
    if not is_html and kind not in TEXT_TYPES and kind:
        return InputFailure(result.url, "E114", f"not an HTML page (content type {kind})")
    if looks_binary(data):
        return InputFailure(result.url, "E103", "binary data, not text")
    host = _host(result.url)
    if is_html:
        page: bytes | str = _decoded(data, result.charset) if result.charset else data
        item = read_html(page, ref=result.url, published=published, outlet=outlet, url=result.url)
        if isinstance(item, InputFailure) or item.outlet:
            return item
        return item.model_copy(update={"outlet": host})
    try:
        text = _decoded(data, result.charset) if result.charset else decode_text(data)
    except UnicodeDecodeError as exc:
        return InputFailure(result.url, "E104", f"not valid UTF-8 (byte {exc.start})")
    return read_text(text, ref=result.url, kind="url", published=published, outlet=outlet or host,
                     url=result.url, title=title)


def _decoded(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def _host(url: str) -> str | None:
    host = urlsplit(url).hostname
    return host.removeprefix("www.") if host else None


def read_url(url: str, *, policy: FetchPolicy | None = None, published: str | dt.date | None = None,
             outlet: str | None = None, title: str | None = None) -> InputItem:
    """Fetch and read one URL with a client of its own (for many URLs, keep one :class:`WebClient`)."""
    try:
        client = WebClient(policy)
    except IngestError as exc:
        return InputFailure(url, exc.code, f"{exc.message} {exc.hint or ''}".strip())
    with client:
        return client.read(url, published=published, outlet=outlet, title=title)
