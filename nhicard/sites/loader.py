"""The one loader of site profiles.

``resolve_profile("real")`` loads ``nhicard/sites/real.toml``; ``"sandbox"`` loads
``sandbox.toml`` and fills its ``{nhi_url}``-style placeholders from the running sandbox's
``endpoints.json``; any other value is a path to a user TOML file, which may say
``extends = "real"`` (or ``"sandbox"``, or another file) and override single keys.
Problems are reported as :class:`ProfileError` (exit 2) naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from nhicard.core.errors import UsageError
from nhicard.core.files import MIB, parse_toml, read_text_limited
from nhicard.core.i18n import T
from nhicard.sites.model import (
    CHAIN_CARD_INPUTS,
    CHAIN_USER_INPUTS,
    FIELD_RE,
    ChainCall,
    ControlSpec,
    LoginChain,
    MailSpec,
    Markers,
    PageSpec,
    ProfileError,
    SiteProfile,
    SiteSpec,
)
from nhicard.sites.sam_endpoint import WRAP_KEY_LENGTH, SamEndpoint
from nhicard.sites.sandbox_endpoints import sandbox_not_running

BUILTIN = ("real", "sandbox")
# the built-in profiles (real.toml, sandbox.toml): package data beside this module
BUILTIN_DIR = Path(__file__).resolve().parent
# a profile is a few KB of TOML; more is not a profile (/dev/zero, a FIFO that never ends)
MAX_PROFILE_BYTES = 1 * MIB
MAX_EXTENDS = 16  # profiles an extends chain may hold (a fix on a fix on real is 2)
SANDBOX_KEYS = (
    "nhi_url",
    "ecpa_url",
    "elearn_url",
    "smtp",
    "maildir",
    "ca_bundle",
    "sam",
    "sam_host",
    "sam_port",
    "agent_origin",
    "sam_wrap_key",
)
_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(SANDBOX_KEYS) + r")\}")

# Controls every flow needs; a profile lacking one is rejected when loaded.
REQUIRED_NHI_CONTROLS: dict[str, tuple[str, ...]] = {
    "login": ("register_link",),
    "terms": ("agree",),
    "apply": (
        "read_card",
        "household_id",
        "city",
        "district",
        "village",
        "neighborhood",
        "next",
        "hid_basic",
        "hid_version",
        "hid_random",
        "hid_sign",
    ),
    "contact": ("password", "email", "phone", "mobile", "submit"),
    "verify": ("read_card", "confirm", "hid_basic", "hid_version", "hid_random", "hid_sign"),
    "done": (),
}
REQUIRED_ECPA_CONTROLS: dict[str, tuple[str, ...]] = {
    "login": ("nhi_column", "password", "login"),
}


# -- validation -------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: Mapping[str, Any], prefix: str, source: str) -> None:
        self.data = data
        self.prefix = prefix
        self.source = source

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, what_zh: str, what_en: str) -> ProfileError:
        return ProfileError(
            T(
                "網站設定檔 {source}:{key} {what_zh}",
                "site profile {source}: {key} {what_en}",
            ).format(source=self.source, key=self.key(name), what_zh=what_zh, what_en=what_en),
            hint=T(
                "請修正網站設定檔(參考內建的 real.toml)。",
                "Fix the site profile (see the built-in real.toml).",
            ),
            reason="profile-invalid",
        )

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if name not in self.data:
            if default is None:
                raise self.fail(name, "缺少此設定", "is missing")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(name, f"型別應為 {names}", f"must be of type {names}")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        return str(self.get(name, str, default))

    def texts(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.get(name, (list, str), None if required else [])
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) for v in items):
            raise self.fail(name, "應為字串清單", "must be a list of strings")
        if required and not [v for v in items if v.strip()]:
            raise self.fail(name, "不可為空", "must not be empty")
        return tuple(items)

    def table(self, name: str, *, required: bool = True) -> _Reader:
        value = self.get(name, dict, None if required else {})
        return _Reader(value, self.key(name), self.source)

    def url(self, name: str, *, allow_http: bool, default: str | None = None) -> str:
        value = self.text(name, default)
        schemes = ("https", "http") if allow_http else ("https",)
        try:
            parts = urlsplit(value)
            valid = parts.scheme in schemes and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a port
        except ValueError:  # "https://[::1", "https://host:99999"
            valid = False
        if not valid:
            raise self.fail(
                name,
                "應為完整的 https:// 網址",
                "must be an absolute https:// URL" + (" (or http://)" if allow_http else ""),
            )
        return value


def _control(reader: _Reader, name: str) -> ControlSpec:
    sub = reader.table(name)
    spec = ControlSpec(names=sub.texts("names"), labels=sub.texts("labels"))
    if not spec.names and not spec.labels:
        raise reader.fail(name, "需要 names 或 labels", "needs names or labels")
    return spec


def _site(
    reader: _Reader, key: str, required: Mapping[str, tuple[str, ...]], allow_http: bool
) -> SiteSpec:
    site = reader.table(key)
    base = site.url("base_url", allow_http=allow_http)
    if not base.endswith("/"):
        raise site.fail("base_url", "應以 / 結尾", "must end with /")
    pages_reader = site.table("pages", required=bool(required))
    pages: dict[str, PageSpec] = {}
    for page_name in pages_reader.data:
        page = pages_reader.table(page_name)
        path = page.text("path", "")
        try:
            url = urljoin(base, path) if path else ""
        except ValueError:  # "//[::1"
            raise page.fail("path", "不是有效的網址路徑", "is not a valid URL path") from None
        if url and not url.startswith(("https://", "http://" if allow_http else "https://")):
            raise page.fail("path", "應為 https 網址", "must resolve to an https URL")
        controls_reader = page.table("controls", required=False)
        controls = {name: _control(controls_reader, name) for name in controls_reader.data}
        pages[page_name] = PageSpec(page_name, url, page.texts("markers"), controls)
    for page_name, needed in required.items():
        if page_name not in pages:
            raise pages_reader.fail(page_name, "缺少此頁面", "is missing")
        for control in needed:
            if control not in pages[page_name].controls:
                raise (
                    pages_reader.table(page_name)
                    .table("controls", required=False)
                    .fail(control, "缺少此欄位", "is missing")
                )
    markers_reader = site.table("markers", required=False)
    pattern = _group_regex(markers_reader, "attempts_left_pattern")
    until_pattern = _group_regex(markers_reader, "locked_until_pattern")
    markers = Markers(
        success=markers_reader.texts("success"),
        error=markers_reader.texts("error"),
        already_registered=markers_reader.texts("already_registered"),
        maintenance=markers_reader.texts("maintenance"),
        session_expired=markers_reader.texts("session_expired"),
        wrong_password=markers_reader.texts("wrong_password"),
        locked=markers_reader.texts("locked"),
        revoked=markers_reader.texts("revoked"),
        not_registered=markers_reader.texts("not_registered"),
        attempts_left_pattern=pattern,
        locked_until_pattern=until_pattern,
    )
    selectors = site.texts("message_selectors")
    name_selectors = site.texts("name_selectors")
    _check_selectors(site, "message_selectors", selectors)
    _check_selectors(site, "name_selectors", name_selectors)
    api_reader = site.table("api", required=False)
    api = {name: urljoin(base, api_reader.text(name)) for name in api_reader.data}
    options_reader = site.table("options", required=False)
    options = {name: options_reader.text(name) for name in options_reader.data}
    chains_reader = site.table("chains", required=False)
    chains = {
        name: _chain(chains_reader.table(name), name, base, allow_http)
        for name in chains_reader.data
    }
    return SiteSpec(
        key=key,
        base_url=base,
        pages=pages,
        markers=markers,
        message_selectors=selectors,
        agent_fields=site.texts("agent_fields"),
        api=api,
        options=options,
        name_selectors=name_selectors,
        chains=chains,
    )


def _group_regex(reader: _Reader, key: str) -> str:
    """A regex with one capture group (or "")."""
    pattern = reader.text(key, "")
    if pattern:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise reader.fail(key, f"不是正規表示式:{exc}", f"is not a valid regex: {exc}") from exc
        if compiled.groups < 1:
            raise reader.fail(key, "需要一個擷取群組", "needs one capture group")
    return pattern


def _pairs(reader: _Reader, key: str) -> tuple[tuple[str, str], ...]:
    """``[["name", "value"], …]``: form fields in the order they are sent."""
    value = reader.get(key, list, [])
    if not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
    ):
        raise reader.fail(
            key, '應為 [["欄位", "值"], …] 清單', 'must be a list of ["field", "value"] pairs'
        )
    return tuple((p[0], p[1]) for p in value)


def _chain(reader: _Reader, key: str, base: str, allow_http: bool) -> LoginChain:
    """One ``[ecpa.chains.<key>]`` table; every ``{placeholder}`` must be known by the time
    its call is made."""
    variables_reader = reader.table("vars", required=False)
    variables = {name: variables_reader.text(name) for name in variables_reader.data}
    known = set(variables) | set(CHAIN_USER_INPUTS) | set(CHAIN_CARD_INPUTS)
    saved: set[str] = set()
    calls_value = reader.get("calls", list)
    if not calls_value or not all(isinstance(c, dict) for c in calls_value):
        raise reader.fail("calls", "應為至少一個 [[calls]] 表格", "must be one or more [[calls]]")
    calls: list[ChainCall] = []
    for index, raw in enumerate(calls_value):
        call = _Reader(raw, reader.key(f"calls[{index}]"), reader.source)
        path = call.text("path")
        url = urljoin(base, path)
        if not url.startswith(("https://", "http://" if allow_http else "https://")):
            raise call.fail("path", "應為 https 網址", "must resolve to an https URL")
        fields = _pairs(call, "fields")
        ok = call.text("ok")
        try:
            re.compile(ok)
        except re.error as exc:
            raise call.fail("ok", f"不是正規表示式:{exc}", f"is not a valid regex: {exc}") from exc
        reply = call.text("reply", "text")
        reply_kind, _, reply_key = reply.partition(":")
        if reply_kind not in ("text", "json") or (reply_kind == "json") != bool(reply_key):
            raise call.fail("reply", '應為 "text" 或 "json:欄位"', 'must be "text" or "json:KEY"')
        refusal = call.text("refusal", "auth")
        if refusal not in ("auth", "site"):
            raise call.fail("refusal", '應為 "auth" 或 "site"', 'must be "auth" or "site"')
        for _, value in fields:
            _check_placeholders(call, "fields", value, known | saved, saved)
        save = call.text("save", "")
        if save:
            saved.add(save)
        wrong_password_replies = tuple(v.strip() for v in call.texts("wrong_password_replies"))
        calls.append(
            ChainCall(
                name=path.rsplit("/", 1)[-1] or path,
                url=url,
                fields=fields,
                ok=ok,
                reply=reply_kind,
                reply_key=reply_key,
                save=save,
                refusal=refusal,
                wrong_password_replies=wrong_password_replies,
            )
        )
    sso_fields = _pairs(reader, "sso_fields")
    for _, value in sso_fields:
        _check_placeholders(reader, "sso_fields", value, known | saved, saved)
    return LoginChain(
        key=key,
        source=reader.text("source"),
        guess=bool(reader.get("guess", bool, False)),
        column=reader.text("column", ""),
        controls=reader.texts("controls"),
        variables=variables,
        calls=tuple(calls),
        sso_fields=sso_fields,
    )


def _check_placeholders(
    reader: _Reader, key: str, value: str, known: set[str], saved: set[str]
) -> None:
    for name in FIELD_RE.findall(value):
        if name not in known:
            raise reader.fail(
                key,
                f"的 {{{name}}} 未定義(須為 vars、先前呼叫的 save 或已知輸入)",
                f"uses {{{name}}}, which is neither a var, an earlier call's save nor a known "
                "input",
            )
        if name == "sign" and "random" not in saved:
            raise reader.fail(
                key,
                '的 {sign} 需要先前的呼叫 save = "random"',
                'uses {sign}, which needs an earlier call with save = "random"',
            )


def _check_selectors(reader: _Reader, key: str, selectors: tuple[str, ...]) -> None:
    import soupsieve  # bs4's CSS engine: what matches the selectors on the pages

    for selector in selectors:
        try:
            soupsieve.compile(selector)
        except soupsieve.SelectorSyntaxError as error:
            raise reader.fail(
                key,
                f"含無效的 CSS 選擇器 {selector!r}",
                f"has an invalid CSS selector {selector!r}",
            ) from error


def _mail(reader: _Reader) -> MailSpec:
    mail = reader.table("mail")
    pattern = mail.text("link_url_pattern")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise mail.fail(
            "link_url_pattern", f"不是正規表示式:{exc}", f"is not a valid regex: {exc}"
        ) from exc
    return MailSpec(
        sender_contains=mail.texts("sender_contains"),
        subject_contains=mail.texts("subject_contains", required=True),
        link_label=mail.text("link_label"),
        link_url_pattern=pattern,
        allowed_link_hosts=mail.texts("allowed_link_hosts", required=True),
    )


def _sam(reader: _Reader) -> SamEndpoint:
    sam = reader.table("sam")
    host = sam.text("host").strip().strip("[]")
    port = sam.get("port", (int, str))
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port.strip())
    if not host:
        raise sam.fail("host", "不可為空", "must not be empty")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise sam.fail("port", "應為 1–65535 的整數", "must be an integer 1-65535")
    try:
        wrap_key = bytes.fromhex(sam.text("wrap_key"))
    except ValueError as exc:
        raise sam.fail("wrap_key", "不是十六進位字串", "is not hexadecimal") from exc
    if len(wrap_key) != WRAP_KEY_LENGTH:
        raise sam.fail(
            "wrap_key", "應為 24 位元組(48 個十六進位字元)", "must be 24 bytes (48 hex digits)"
        )
    return SamEndpoint(host, port, wrap_key)


def build_profile(
    data: Mapping[str, Any], *, source: str, sandbox: Mapping[str, str] | None = None
) -> SiteProfile:
    """Validate merged TOML data into a :class:`SiteProfile` (ProfileError on problems)."""
    root = _Reader(data, "", source)
    allow_http = bool(root.get("allow_http", bool, False))
    ca_bundle = root.text("ca_bundle", "") or None
    if ca_bundle:
        ca_bundle = str(Path(ca_bundle).expanduser())
    return SiteProfile(
        name=root.text("name"),
        source=source,
        allow_http=allow_http,
        ca_bundle=ca_bundle,
        agent_origin=root.url("agent_origin", allow_http=allow_http),
        nhi=_site(root, "nhi", REQUIRED_NHI_CONTROLS, allow_http),
        ecpa=_site(root, "ecpa", REQUIRED_ECPA_CONTROLS, allow_http),
        elearn=_site(root, "elearn", {}, allow_http),
        mail=_mail(root),
        sam=_sam(root),
        sandbox=dict(sandbox or {}),
    )


# -- loading ----------------------------------------------------------------------------
def _read_toml(path: Path | None, *, builtin: str | None = None) -> dict[str, Any]:
    label = builtin or str(path)
    try:
        if builtin is not None:
            # package data on disk (importlib.resources would import zipfile for it)
            text = (BUILTIN_DIR / f"{builtin}.toml").read_text("utf-8")
        else:
            assert path is not None
            text = read_text_limited(path, MAX_PROFILE_BYTES, T("網站設定檔", "site profile"))
        return parse_toml(text)
    except UsageError as exc:  # larger than MAX_PROFILE_BYTES
        raise ProfileError(
            exc.message, hint=exc.hint, reason="profile-too-large", detail=exc.detail
        ) from None
    except FileNotFoundError as exc:
        raise ProfileError(
            T("找不到網站設定檔 {name}", "site profile {name} not found").format(name=label),
            hint=T(
                "--profile 可用 real、sandbox 或 TOML 檔案路徑。",
                "--profile takes real, sandbox or a path to a TOML file.",
            ),
            reason="profile-missing",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(
            T("無法讀取網站設定檔 {name}", "cannot read site profile {name}").format(name=label),
            detail=str(exc),
            reason="profile-unreadable",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            T("網站設定檔 {name} 不是有效的 TOML", "site profile {name} is not valid TOML").format(
                name=label
            ),
            detail=str(exc),
            reason="profile-invalid",
        ) from exc


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else in ``override`` replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_data(name_or_path: str, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str | None]:
    """The merged TOML data, and the built-in profile it derives from (None: none)."""
    if name_or_path in BUILTIN:
        return _read_toml(None, builtin=name_or_path), name_or_path
    try:
        path = Path(name_or_path).expanduser().resolve()
    except (ValueError, OSError, RuntimeError) as exc:  # NUL byte, unknown ~user, loops
        raise ProfileError(
            T("網站設定檔名稱無效:{name}", "the site profile name is not valid: {name}").format(
                name=ascii(name_or_path)
            ),
            hint=T(
                "--profile 可用 real、sandbox 或 TOML 檔案路徑。",
                "--profile takes real, sandbox or a path to a TOML file.",
            ),
            reason="profile-missing",
            detail=type(exc).__name__,
        ) from None
    if str(path) in seen:
        raise ProfileError(
            T(
                "網站設定檔的 extends 形成循環:{path}",
                "site profile extends itself in a loop: {path}",
            ).format(path=path),
            reason="profile-invalid",
        )
    data = _read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data, None
    if not isinstance(parent, str):
        raise ProfileError(
            T(
                "網站設定檔 {path}:extends 應為字串",
                "site profile {path}: extends must be a string",
            ).format(path=path),
            reason="profile-invalid",
        )
    if len(seen) >= MAX_EXTENDS:
        raise ProfileError(
            T(
                "網站設定檔 {path}:extends 串接超過 {n} 層",
                "site profile {path}: extends chains more than {n} profiles",
            ).format(path=path, n=MAX_EXTENDS),
            reason="profile-invalid",
        )
    target = parent if parent in BUILTIN else str(path.parent / parent)
    base, root = _load_data(target, (*seen, str(path)))
    return merge(base, data), root


def sandbox_placeholders(sandbox_dir: Path | None = None) -> dict[str, str]:
    """The values ``sandbox.toml``'s ``{placeholders}`` stand for, from the running sandbox
    (:func:`nhicard.sites.sandbox_endpoints.load_endpoints`: exit 7 when it is not running)."""
    from nhicard.core.errors import NhicardError
    from nhicard.sites.sandbox_endpoints import endpoints_file, load_endpoints, load_wrap_key

    endpoints = load_endpoints(sandbox_dir)
    values = {
        "nhi_url": endpoints.nhi_url,
        "ecpa_url": endpoints.ecpa_url,
        "elearn_url": endpoints.elearn_url,
        "smtp": endpoints.smtp,
        "maildir": endpoints.maildir,
        "ca_bundle": endpoints.ca_bundle,
        "sam": endpoints.sam,
        "sam_host": endpoints.sam_host,
        "sam_port": endpoints.sam_port,
        "agent_origin": endpoints.agent_origins[0] if endpoints.agent_origins else "",
    }
    out = {k: v for k, v in values.items() if v}
    for key in ("nhi_url", "ecpa_url", "elearn_url"):
        if key in out:
            out[key] = _with_slash(out[key])
    try:
        out["sam_wrap_key"] = load_wrap_key(endpoints_file(sandbox_dir).parent).hex()
    except NhicardError as exc:
        raise sandbox_not_running(str(exc)) from exc
    return out


def _fill(value: Any, endpoints: Mapping[str, str], source: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {
            k: _fill(v, endpoints, source, f"{key}.{k}" if key else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_fill(v, endpoints, source, key) for v in value]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in endpoints:
                raise sandbox_not_running(
                    f"endpoints.json has no {name} (needed by {source}: {key})"
                )
            return endpoints[name]

        return _PLACEHOLDER_RE.sub(sub, value)
    return value


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def resolve_profile(name_or_path: str, *, sandbox_dir: Path | None = None) -> SiteProfile:
    """The profile ``real``, ``sandbox`` (needs a running sandbox) or a user TOML file."""
    data, root = _load_data(name_or_path)
    is_sandbox = root == "sandbox"
    source = name_or_path
    endpoints: dict[str, str] = {}
    if is_sandbox:
        endpoints = sandbox_placeholders(sandbox_dir)
        data = _fill(data, endpoints, source)
    profile = build_profile(data, source=source, sandbox=endpoints)
    if root is not None and name_or_path not in BUILTIN:
        profile = dataclasses.replace(profile, derived_from=root)
    return profile
