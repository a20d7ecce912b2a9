"""A stateful HTTPS browser on ``httpx.Client``: cookies, redirects, timeouts, bounded retries,
TLS always verified, typed network errors, a request counter and a masked ``-vv`` trace."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from nhicard import __version__
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T, Text
from nhicard.net.deadline import ExchangeWatchdog
from nhicard.net.decoding import (
    ACCEPT_ENCODING,
    BadEncoding,
    DecodedTooLarge,
    content_codings,
    decode_bounded,
)
from nhicard.net.httpresolve import resolving_transport
from nhicard.net.netclass import HINT_CLOCK, Kind, base_message, classify
from nhicard.net.tlsclient import verifying_context
from nhicard.sites.model import SiteProfile, SiteSpec
from nhicard.web.aspnet import page_messages, postback, state_rejection
from nhicard.web.encoding import FORM_CONTENT_TYPE, urlencode_pairs
from nhicard.web.errors import ForeignFormTarget, PageStateRejected, StaleForm
from nhicard.web.form import Form, Key
from nhicard.web.formdata import Submission
from nhicard.web.page import Page
from nhicard.web.redact import Redactor

USER_AGENT = f"nhicard/{__version__}"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
TraceFn = Callable[[str], None]

HINT_ENV = T("執行 nhicard env check 檢查環境。", "Run `nhicard env check`.")


@dataclass(frozen=True)
class BrowserPolicy:
    """What a site profile decides about transport: plain HTTP, trusted CA, maintenance
    markers, timeouts and retries."""

    allow_http: bool = False
    ca_bundle: str | None = None
    maintenance_markers: tuple[str, ...] = ()
    message_selectors: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # every request as a whole (connect, TLS, head and body, redirects and retries included),
    # however slowly the site trickles bytes
    total_timeout: float = 60.0
    # a response body larger than this (after decompression, counted as it is unpacked) is
    # refused: the site's pages are tens of KB, so this only stops a broken or hostile site
    # from filling memory
    max_body_bytes: int = 8 * 1024 * 1024
    # hosts a form submission (any request but GET/HEAD) may go to; empty: no restriction.
    # A page's form action or a 307/308 redirect pointing elsewhere is refused.
    form_hosts: tuple[str, ...] = ()
    retries: int = 2
    backoff: float = 0.5
    max_redirects: int = 10


def policy_for(profile: SiteProfile, site: SiteSpec | None = None) -> BrowserPolicy:
    """The browser's settings for a site profile: its plain-HTTP and CA choice, and the
    maintenance markers and message selectors of one site (or of all three)."""
    sites = [site] if site is not None else [profile.nhi, profile.ecpa, profile.elearn]
    markers = [m for s in sites for m in s.markers.maintenance]
    selectors = [sel for s in sites for sel in s.message_selectors]
    return BrowserPolicy(
        allow_http=profile.allow_http,
        ca_bundle=profile.ca_bundle,
        maintenance_markers=tuple(dict.fromkeys(markers)),
        message_selectors=tuple(dict.fromkeys(selectors)),
    )


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying TLS context (TLS ≥ 1.2): the profile's CA bundle when given, else the
    system's trusted roots."""
    return verifying_context(
        ca_bundle,
        hint=T(
            "檢查網站設定檔的 ca_bundle;沙箱請先執行 nhicard sandbox up。",
            "Check the profile's ca_bundle; for the sandbox run `nhicard sandbox up`.",
        ),
    )


_HINTS = {
    Kind.DNS: T(
        "檢查網路、DNS 與代理伺服器(proxy)設定;" + HINT_ENV.zh,
        "Check the network, DNS and proxy settings; " + HINT_ENV.en,
    ),
    Kind.REFUSED: T(
        "網站可能停機,或防火牆阻擋;使用沙箱時請執行 nhicard sandbox up。",
        "The site may be down or blocked by a firewall; for the sandbox run `nhicard sandbox up`.",
    ),
    Kind.TLS_EXPIRED: HINT_CLOCK,
    Kind.TLS_HOSTNAME: T(
        "可能有代理伺服器攔截連線;" + HINT_ENV.zh,
        "A proxy may be intercepting; " + HINT_ENV.en,
    ),
    Kind.TLS_UNKNOWN_CA: T(
        "檢查代理伺服器(proxy)設定與網站設定檔的 ca_bundle;" + HINT_ENV.zh,
        "Check proxy settings and the profile's ca_bundle; " + HINT_ENV.en,
    ),
    Kind.TLS_OTHER: T(
        "檢查代理伺服器(proxy)設定;" + HINT_ENV.zh, "Check proxy settings; " + HINT_ENV.en
    ),
}
_HINT_CONNECT = T(
    "檢查網路與代理伺服器(proxy)設定;" + HINT_ENV.zh,
    "Check the network and proxy settings; " + HINT_ENV.en,
)


def classify_transport_error(exc: httpx.TransportError, host: str) -> tuple[NetworkError, bool]:
    """A typed, bilingual :class:`NetworkError` for an httpx failure, and whether retrying
    the same idempotent request may help (:mod:`nhicard.net.netclass` decides the kind)."""
    failure = classify(exc)
    kind = failure.kind
    tls = kind.untrusted or kind is Kind.TLS_OTHER
    detail = str(failure.cause if tls else exc) or type(exc).__name__

    def make(reason: str, msg: Text, hint: Text) -> NetworkError:
        return NetworkError(msg, hint=hint, reason=reason, detail=detail)

    if kind is Kind.TIMEOUT and isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return make("connect-timeout", base_message(kind, host), _HINT_CONNECT), True
    if kind is Kind.TIMEOUT and isinstance(exc, httpx.TimeoutException):
        return make(
            "read-timeout",
            T("等待 {host} 回應逾時", "{host} did not answer in time").format(host=host),
            T("網站可能忙碌,請稍後再試。", "The site may be busy; try again later."),
        ), False
    if kind.reason and kind in _HINTS:  # every kind with a reason but a timeout
        return make(kind.reason, base_message(kind, host), _HINTS[kind]), kind is Kind.REFUSED
    if isinstance(exc, httpx.ConnectError):
        return make("connect-failed", T("無法連線到 {host}", "cannot connect to {host}").format(
            host=host), _HINT_CONNECT), True  # fmt: skip
    return make(
        "connection-lost",
        base_message(Kind.RESET, host),
        T("請稍後再試。", "Try again later."),
    ), False


class Browser(ClosesOnExit):
    """A stateful browser: ``open`` pages, ``submit`` forms, ``click`` links and buttons.

    Every navigation returns a :class:`Page` with a new ``serial``; a form of an older page is
    refused (ASP.NET state is never reused). ``requests_made`` counts every HTTP request
    including redirects and retries.
    """

    def __init__(
        self,
        policy: BrowserPolicy | None = None,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        trace: TraceFn | None = None,
        redactor: Redactor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or BrowserPolicy()
        self._owns_client = client is None
        if client is None:
            # httpx's own transport (and its proxy mounts); a test's transport verifies nothing
            verify = tls_context(self.policy.ca_bundle) if transport is None else True
            if transport is None:  # names resolved within the deadline too (net/httpresolve.py)
                transport = resolving_transport(verify=verify, trust_env=True)
            client = httpx.Client(
                verify=verify,
                transport=transport,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
                trust_env=True,
            )
        self.client = client
        self.trace = trace
        self.redactor = redactor or Redactor()
        self._sleep = sleep
        self._clock = clock
        self.requests_made = 0
        self.current: Page | None = None
        self._serial = 0
        # shuts the connections down when a request's total deadline passes (a site that
        # drips its status line or headers never trips the per-read timeouts)
        self._watchdog = ExchangeWatchdog()
        self._hop_host = ""

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    # -- navigation --------------------------------------------------------------------
    def open(self, url: str) -> Page:
        """GET ``url`` (redirects followed) and make it the current page."""
        return self._navigate("GET", url)

    def submit(self, submission: Submission, *, allow_stale: bool = False) -> Page:
        """Send a form submission; the response becomes the current page."""
        if (
            not allow_stale
            and submission.page_serial is not None
            and self.current is not None
            and submission.page_serial != self.current.serial
        ):
            raise StaleForm(
                T(
                    "表單來自較早的頁面;ASP.NET 狀態必須取自目前頁面",
                    "the form belongs to an earlier page; ASP.NET state must come from the current page",
                )
            )
        if submission.method == "GET":
            return self._navigate("GET", submission.url)
        return self._navigate(
            "POST",
            submission.url,
            content=submission.body(),
            headers={"Content-Type": FORM_CONTENT_TYPE},
            pairs=submission.pairs,
            secret_names=submission.secret_names,
        )

    def postback(self, form: Form, target: str, argument: str = "") -> Page:
        """``__doPostBack(target, argument)`` on ``form``."""
        return self.submit(postback(form, target, argument))

    def click(self, page: Page, key: Key) -> Page:
        """Click a link or button of ``page`` the way a browser would (follow the link,
        submit the form with that button, or run its ``__doPostBack``)."""
        action = page.click(key)
        if action.kind == "get":
            return self.open(action.url)
        assert action.form is not None
        if action.kind == "submit":
            return self.submit(action.form.submission(action.element))
        assert action.postback is not None
        if action.postback.action:
            action.form.element["action"] = action.postback.action
        return self.submit(postback(action.form, action.postback.target, action.postback.argument))

    def fetch(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        pairs: Iterable[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        secret_names: Iterable[str] = (),
    ) -> Page:
        """An XHR-style request (the page's script calling an API): cookies are shared, but
        the current page stays current."""
        extra = {"X-Requested-With": "XMLHttpRequest", **(headers or {})}
        content: bytes | None = None
        pair_list = tuple(pairs) if pairs is not None else None
        if json is not None:
            import json as jsonlib

            content = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
            extra.setdefault("Content-Type", "application/json; charset=utf-8")
        elif pair_list is not None:
            content = urlencode_pairs(pair_list).encode("ascii")
            extra.setdefault("Content-Type", FORM_CONTENT_TYPE)
        response = self._request(
            method.upper(),
            url,
            content=content,
            headers=extra,
            pairs=pair_list,
            secret_names=frozenset(secret_names),
        )
        return self._page(response, navigation=False)

    # -- internals ---------------------------------------------------------------------
    def _navigate(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        pairs: tuple[tuple[str, str], ...] | None = None,
        secret_names: frozenset[str] = frozenset(),
    ) -> Page:
        extra = dict(headers or {})
        if self.current is not None:
            extra.setdefault("Referer", self.current.url)
            if method == "POST":
                parts = urlsplit(self.current.url)
                extra.setdefault("Origin", f"{parts.scheme}://{parts.netloc}")
        response = self._request(
            method, url, content=content, headers=extra, pairs=pairs, secret_names=secret_names
        )
        return self._page(response, navigation=True)

    def _page(self, response: httpx.Response, *, navigation: bool) -> Page:
        serial = self._serial + 1 if navigation else (self.current.serial if self.current else 0)
        page = Page(
            url=str(response.url),
            status=response.status_code,
            text=response.text,
            headers=dict(response.headers),
            serial=serial,
        )
        self._check_maintenance(page)
        if response.status_code == 500:
            self._check_state_rejection(page, response.url.host)
        if response.status_code >= 500:
            raise NetworkError(
                T(
                    "{host} 回應伺服器錯誤 HTTP {status}",
                    "{host} answered with server error HTTP {status}",
                ).format(host=response.url.host, status=response.status_code),
                hint=T(
                    "網站暫時無法使用,請稍後再試。",
                    "The site is not working right now; try again later.",
                ),
                reason="server-error",
                data={"status": response.status_code},
            )
        if navigation:
            self._serial = serial
            self.current = page
        return page

    def _check_state_rejection(self, page: Page, host: str) -> None:
        """ASP.NET's error page refusing the posted ``__VIEWSTATE`` / ``__EVENTVALIDATION``
        → :class:`PageStateRejected` (exit 8): the site refused this request on purpose."""
        found = state_rejection(page.text)
        if found is None:
            return
        raise PageStateRejected(
            T(
                "{host} 拒絕了這一頁的表單狀態:表單已過期或被改動,網站沒有處理這次送出",
                "{host} refused the page state: the form was stale or tampered with, and the"
                " site did not process this submission",
            ).format(host=host),
            hint=T(
                "請重新執行一次指令(會從新的頁面開始);若一再發生,網站可能已改版:"
                "加上 --save-pages 目錄 重新執行並回報。",
                "Run the command again (it starts from fresh pages); if it keeps happening the"
                " site may have changed: run it again with --save-pages DIR and report it.",
            ),
            reason="page-state-rejected",
            detail=f"HTTP 500: {found}",
            data={"status": 500},
        )

    def _check_maintenance(self, page: Page) -> None:
        if not self.policy.maintenance_markers or "html" not in page.headers.get(
            "content-type", "text/html"
        ):
            return
        marker = page.find_marker(self.policy.maintenance_markers)
        if marker is None:
            return
        messages = page_messages(page.soup, self.policy.message_selectors)
        message = messages[0] if messages else page.visible_text[:200]
        raise NetworkError(
            T("{host} 正在維護:{message}", "{host} is under maintenance: {message}").format(
                host=urlsplit(page.url).hostname or page.url, message=message
            ),
            hint=T("請於維護結束後再試。", "Try again after the maintenance."),
            reason="maintenance",
        )

    def _check_scheme(self, url: httpx.URL) -> None:
        if url.scheme == "https" or (url.scheme == "http" and self.policy.allow_http):
            return
        raise NetworkError(
            T(
                "拒絕不安全的網址 {url}(只允許 https)",
                "refusing the insecure URL {url} (https only)",
            ).format(url=self._mask_url(str(url))),
            hint=T(
                "正式網站只使用 https;請檢查網站設定檔。",
                "The real sites use https only; check the site profile.",
            ),
            reason="insecure-url",
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: dict[str, str],
        pairs: tuple[tuple[str, str], ...] | None,
        secret_names: frozenset[str],
    ) -> httpx.Response:
        # one deadline for the request with its redirects and retries: checked between
        # reads, and enforced during them by the watchdog closing the connection
        span = max(self.policy.total_timeout, self.policy.read_timeout)
        deadline = self._clock() + span
        self._hop_host = httpx.URL(url).host
        with self._watchdog.armed(span):
            try:
                response = self._request_until(
                    method, url, content, headers, pairs, secret_names, deadline
                )
            except httpx.TransportError as exc:
                if self._watchdog.fired:
                    self._trace(f"{method} {self._mask_url(url)} → total-timeout")
                    raise _too_slow(self._hop_host, self.policy.total_timeout) from exc
                raise
            except NetworkError as exc:
                if self._watchdog.fired and exc.reason not in ("total-timeout", "dns"):
                    raise _too_slow(self._hop_host, self.policy.total_timeout) from exc
                raise
            if self._watchdog.fired:  # e.g. a body without length, cut at the deadline
                raise _too_slow(self._hop_host, self.policy.total_timeout)
        return response

    def _request_until(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str],
        pairs: tuple[tuple[str, str], ...] | None,
        secret_names: frozenset[str],
        deadline: float,
    ) -> httpx.Response:
        policy = self.policy
        attempt = 0
        while True:
            try:
                response = self._send_following(
                    method, url, content, headers, pairs, secret_names, deadline
                )
            except httpx.TransportError as exc:
                # a lookup the deadline ended is a DNS failure: the watchdog had no connection
                if self._watchdog.fired and classify(exc).kind is not Kind.DNS:
                    raise
                host = httpx.URL(url).host
                error, retryable = classify_transport_error(exc, host)
                if error.reason == "tls-unknown-ca":  # name the issuer and root, say the fix
                    from nhicard.net.tlschain import explain_untrusted

                    left = max(0.1, min(policy.connect_timeout, deadline - self._clock()))
                    error = explain_untrusted(error, url, timeout=left)
                self._trace(f"{method} {self._mask_url(url)} → {error.reason}")
                if retryable and self._may_retry(method, attempt, deadline):
                    self._sleep(policy.backoff * (2**attempt))
                    attempt += 1
                    continue
                raise error from exc
            if (
                response.status_code >= 500
                and self._may_retry(method, attempt, deadline)
                and not self._is_maintenance(response)
            ):
                self._sleep(policy.backoff * (2**attempt))
                attempt += 1
                continue
            return response

    def _may_retry(self, method: str, attempt: int, deadline: float) -> bool:
        """Whether a failed ``attempt`` (0 first) may be sent again: an idempotent method,
        retries left, and its back-off pause ending before the request's deadline."""
        policy = self.policy
        return (
            method in IDEMPOTENT
            and attempt < policy.retries
            and self._clock() + policy.backoff * (2**attempt) < deadline
        )

    def _is_maintenance(self, response: httpx.Response) -> bool:
        if not self.policy.maintenance_markers:
            return False
        probe = Page(str(response.url), response.status_code, response.text, dict(response.headers))
        return probe.find_marker(self.policy.maintenance_markers) is not None

    def _send_following(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str],
        pairs: tuple[tuple[str, str], ...] | None,
        secret_names: frozenset[str],
        deadline: float,
    ) -> httpx.Response:
        request = self.client.build_request(
            method,
            url,
            content=content,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **headers},
            timeout=self._timeout(deadline),
        )
        for hop in range(self.policy.max_redirects + 1):
            self._check_scheme(request.url)
            self._check_form_host(request)
            started = self._clock()
            self.requests_made += 1
            self._hop_host = request.url.host
            request.extensions["timeout"] = self._timeout(deadline).as_dict()
            request.extensions["trace"] = self._watchdog.trace
            response = self.client.send(request, stream=True)
            try:
                self._read_body(response, deadline)
            finally:
                response.close()
            elapsed = (self._clock() - started) * 1000
            self._trace(
                f"{request.method} {self._mask_url(str(request.url))} → {response.status_code}"
                f" ({elapsed:.0f} ms)"
            )
            if hop == 0 and pairs is not None:
                self._trace("  form: " + self._mask_pairs(pairs, secret_names))
            next_request = response.next_request
            if next_request is None:
                return response
            request = next_request
        raise NetworkError(
            T("{host} 重新導向次數過多", "too many redirects from {host}").format(
                host=request.url.host
            ),
            hint=T("網站可能異常,請稍後再試。", "The site may be misbehaving; try again later."),
            reason="too-many-redirects",
        )

    def _check_form_host(self, request: httpx.Request) -> None:
        hosts = self.policy.form_hosts
        if not hosts or request.method in ("GET", "HEAD") or request.url.host.lower() in hosts:
            return
        raise ForeignFormTarget(
            T(
                "拒絕把表單送到 {host}:它不是網站設定檔中的網站({allowed})",
                "refusing to send a form to {host}: it is not one of the profile's sites "
                "({allowed})",
            ).format(host=request.url.host, allowed=", ".join(hosts)),
            hint=T(
                "頁面的表單或重新導向指向別的網站;網站可能已改版或遭竄改,未送出任何資料。",
                "The page's form or a redirect points elsewhere; the site may have changed or "
                "been tampered with. Nothing was sent.",
            ),
            reason="foreign-form-target",
        )

    def _timeout(self, deadline: float) -> httpx.Timeout:
        """Per-read timeouts no longer than what is left of the request's total deadline."""
        left = max(0.1, deadline - self._clock())
        return httpx.Timeout(
            min(self.policy.read_timeout, left), connect=min(self.policy.connect_timeout, left)
        )

    def _read_body(self, response: httpx.Response, deadline: float) -> None:
        """Read a streamed body into ``response`` (``.content``/``.text`` work as usual),
        refusing more than ``max_body_bytes`` of decoded content (counted as it is unpacked,
        so a compression bomb never fills memory) and going past the total deadline."""
        cap = self.policy.max_body_bytes
        host = response.request.url.host
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _body_too_large(host, cap)
        if response.is_stream_consumed:  # a test transport's response, read in memory
            if len(response.content) > cap:
                raise _body_too_large(host, cap)
            return
        codings = content_codings(response.headers.get_list("content-encoding"))
        chunks: list[bytes] = []
        try:
            for chunk in decode_bounded(response.iter_raw(), codings, cap):
                chunks.append(chunk)
                if self._clock() > deadline:
                    raise _too_slow(host, self.policy.total_timeout)
        except DecodedTooLarge:
            raise _body_too_large(host, cap) from None
        except BadEncoding as exc:
            raise NetworkError(
                T(
                    "{host} 回應的內容無法解壓縮({coding})",
                    "{host} sent a response that cannot be decompressed ({coding})",
                ).format(host=host, coding=exc.coding),
                hint=T(
                    "網站可能異常,請稍後再試。", "The site may be misbehaving; try again later."
                ),
                reason="bad-content-encoding",
                detail=str(exc),
            ) from None
        response._content = b"".join(chunks)  # what Response.read() would have stored

    # -- trace -------------------------------------------------------------------------
    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(self.redactor.text(line))

    def _mask_pairs(self, pairs: Iterable[tuple[str, str]], secret_names: frozenset[str]) -> str:
        shown = []
        for name, value in pairs:
            masked = self.redactor.field_value(name, value, is_password=name in secret_names)
            shown.append(f"{name}={masked}")
        return "&".join(shown)

    def _mask_url(self, url: str) -> str:
        parts = urlsplit(url)
        if not parts.query:
            return self.redactor.text(url)
        query = "&".join(
            f"{name}={self.redactor.field_value(name, value)}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        return self.redactor.text(urlunsplit(parts._replace(query=query)))


def _body_too_large(host: str, cap: int) -> NetworkError:
    mb = f"{cap / (1024 * 1024):g}"
    return NetworkError(
        T(
            "{host} 回應的內容超過 {mb} MB,已停止接收",
            "{host} sent a response larger than {mb} MB; stopped receiving it",
        ).format(host=host, mb=mb),
        hint=T(
            "網站可能異常或不是健保署的網站;請檢查網站設定檔,稍後再試。",
            "The site may be broken or not the NHI's; check the site profile and try later.",
        ),
        reason="body-too-large",
    )


def _too_slow(host: str, seconds: float) -> NetworkError:
    return NetworkError(
        T(
            "{host} 在 {s} 秒內沒有送完回應,已放棄",
            "{host} did not finish its response within {s} s; giving up",
        ).format(host=host, s=f"{seconds:g}"),
        hint=T("網站回應過慢,請稍後再試。", "The site is answering too slowly; try again later."),
        reason="total-timeout",
    )
