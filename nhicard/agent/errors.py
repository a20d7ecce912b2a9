"""Errors of the card agent, carrying the official component's numeric code and text.

The official component (NHIICC) answers failures with a bare number such as ``8006``; the web
pages show a short Chinese text for it (nhi-agent.md, the official error table), and for
every code outside that table their own ``A001元件安裝問題，請下載元件安裝檔執行安裝[<code>]``.
Our messages quote that text verbatim as ``[<code>] <text>`` (e.g. ``[7004] 未置入健保卡``)
beside our explanation and fix, so a user can search for what the official pages show. Both
backends raise the same :class:`AgentError` subclasses for the same situation.

Each subclass also derives from the matching category of :mod:`nhicard.core.errors`, so callers
can catch ``CardAbsent`` and get the agent's 7004/8013 too, and the CLI maps exit codes in its
one place. Exit codes chosen per code (cli-contract.md):

========================================  ====  =============================================
official code                             exit  why
========================================  ====  =============================================
7001                                      3     PC/SC unavailable
7002, 7003                                4     no reader / reader listing failed
7004, 8013                                5     no (NHI) card, or the card was pulled
8001, 8002, 8010, 8011                    6     the card answered with an error
8006                                      6     the *card* failed mutual authentication: its
                                                answer (or its key) is wrong. Not exit 9:
                                                nothing the user typed was refused, and no
                                                password retry or account state is involved.
4061, 4041, 4021, 8003-8005, 8007, 8008,  7     network / service failure (SAM, component)
8201, 8202, 8300-8306, other codes
8009                                      2     password length not 6-12 (usage)
9001, 9002                                9     signature verification refused
9999                                      1     the component does not know the command: it
                                                is not installed properly (or too old)
========================================  ====  =============================================
"""

from __future__ import annotations

from dataclasses import dataclass

from nhicard.core.errors import (
    AuthRefused,
    CardAbsent,
    CardFailure,
    NetworkError,
    NhicardError,
    PcscUnavailable,
    ReaderError,
    UsageError,
)
from nhicard.core.i18n import T, Text
from nhicard.pcsc.codes import service_hint


class AgentError(NhicardError):
    """A failure of a card-agent operation.

    ``official_code`` is the official component's code as a string (``"8006"``) or None when
    the failure has no official code (e.g. the component sent something unreadable);
    ``official_text`` is the text the official pages show for it.
    """

    def __init__(
        self,
        message: Text,
        *,
        official_code: str | None = None,
        official_text: str | None = None,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.official_code = official_code
        self.official_text = official_text


class AgentPcscUnavailable(AgentError, PcscUnavailable):
    """7001."""


class AgentReaderError(AgentError, ReaderError):
    """7002, 7003."""


class AgentCardAbsent(AgentError, CardAbsent):
    """7004, 8013."""


class AgentCardFailure(AgentError, CardFailure):
    """8001, 8002, 8006, 8010, 8011."""


class AgentNetworkError(AgentError, NetworkError):
    """4061, 4041, 4021, 8003-8008 (transport), 8300-8306; also an unreachable or
    misbehaving component."""


class AgentUsageError(AgentError, UsageError):
    """8009."""


class AgentAuthRefused(AgentError, AuthRefused):
    """9001, 9002."""


class AgentComponentBroken(AgentError):
    """9999: the component does not know the command (exit 1 with a hint)."""


@dataclass(frozen=True)
class OfficialCode:
    code: str
    official_text: str  # what the official pages show (Chinese), searchable
    meaning: Text  # our explanation
    error_class: type[AgentError]
    hint: Text


_CHECK_READER = T(
    "請確認讀卡機已連接、健保卡已插入(晶片朝上朝內),再試一次。",
    "Check that the reader is plugged in and the card inserted (chip first, facing up), "
    "then try again.",
)
_SAM_HINT = T(
    "請確認網路可連到健保署認證伺服器(cloudicap.nhi.gov.tw:443);使用沙盒時請先執行 "
    "nhicard sandbox up。",
    "Check that this computer can reach the NHI authentication server "
    "(cloudicap.nhi.gov.tw:443); for the sandbox run `nhicard sandbox up` first.",
)
_COMPONENT_HINT = T(
    "請檢查元件是否已正確安裝且啟動,或改用 --agent direct。",
    "Check that the official component is installed and running, or use --agent direct.",
)


A001_PREFIX = "A001元件安裝問題，請下載元件安裝檔執行安裝"


def a001(code: str) -> str:
    """What the official pages show for a code outside their table (verbatim)."""
    return f"{A001_PREFIX}[{code}]"


def official_text(code: str) -> str:
    """The text the official pages show for ``code``."""
    entry = OFFICIAL_CODES.get(code)
    return entry.official_text if entry is not None else a001(code)


def _table() -> dict[str, OfficialCode]:
    rows: list[OfficialCode] = []

    def add(
        codes: tuple[str, ...], text: str, meaning: Text, cls: type[AgentError], hint: Text
    ) -> None:
        rows.extend(OfficialCode(c, text, meaning, cls, hint) for c in codes)

    add(
        ("4061",),
        "無法連接服務網站",
        T("無法連接健保署服務", "cannot reach the NHI service"),
        AgentNetworkError,
        _SAM_HINT,
    )
    add(
        ("4041",),
        a001("4041"),
        T("讀卡機元件拒絕此來源網站(Origin)", "the component refused this web origin"),
        AgentNetworkError,
        T(
            "元件只服務白名單內的網站;請改用 --agent direct,或以 nhicard agent serve "
            "--origin 允許該網站。",
            "The component serves only whitelisted sites; use --agent direct, or allow the "
            "origin with `nhicard agent serve --origin`.",
        ),
    )
    add(
        ("4021",),
        a001("4021"),
        T("讀卡機元件沒有網站白名單", "the component has no origin whitelist"),
        AgentNetworkError,
        T(
            "元件需連網下載白名單;請確認網路,或改用 --agent direct。",
            "The component downloads its whitelist from NHI; check the network, or use "
            "--agent direct.",
        ),
    )
    add(
        ("7001",),
        "pcsc環境異常",
        T("PC/SC 環境無法使用", "PC/SC is unavailable"),
        AgentPcscUnavailable,
        service_hint(),
    )
    add(
        ("7002", "7003"),
        "無法存取讀卡機",
        T("找不到讀卡機或無法列出讀卡機", "no reader, or the readers could not be listed"),
        AgentReaderError,
        T(
            "請接上讀卡機;用 nhicard reader list 檢查。",
            "Plug in a reader; check with `nhicard reader list`.",
        ),
    )
    add(
        ("7004",),
        "未置入健保卡",
        T("讀卡機內沒有健保卡", "no NHI card in the reader"),
        AgentCardAbsent,
        _CHECK_READER,
    )
    add(
        ("8001", "8002"),
        "讀卡異常",
        T("讀取卡號或取得卡片亂數失敗", "reading the card id or the card challenge failed"),
        AgentCardFailure,
        _CHECK_READER,
    )
    add(
        ("8003", "8004", "8005", "8007", "8008"),
        "認卡傳輸異常",
        T(
            "與健保署認證伺服器(SAM)通訊失敗",
            "talking to the NHI authentication server (SAM) failed",
        ),
        AgentNetworkError,
        _SAM_HINT,
    )
    add(
        ("8006",),
        "卡片回傳無法認卡",
        T("卡片未通過相互認證", "the card failed the mutual authentication"),
        AgentCardFailure,
        T(
            "請重新插卡再試;若仍失敗,此卡可能已註銷或損壞,請洽健保署。",
            "Re-insert the card and try again; if it still fails the card may be revoked or "
            "damaged: contact the NHI administration.",
        ),
    )
    add(
        ("8009",),
        a001("8009"),
        T("密碼長度必須為 6 至 12 個字元", "the password must be 6 to 12 characters long"),
        AgentUsageError,
        T("請輸入 6 至 12 個字元的密碼。", "Enter a password of 6 to 12 characters."),
    )
    add(
        ("8010", "8011"),
        "讀取基本資料失敗",
        T("讀取卡片基本資料失敗", "reading the card's basic data failed"),
        AgentCardFailure,
        _CHECK_READER,
    )
    add(
        ("8013",),
        "無法存取健保卡",  # nhi-agent.md gives only its meaning: our wording
        T(
            "無法存取健保卡(讀卡機是否已連接、卡片是否已插入?)",
            "cannot access the card (is the reader plugged in, is the card inserted?)",
        ),
        AgentCardAbsent,
        _CHECK_READER,
    )
    add(
        ("8201", "8202"),
        "服務異常",
        T("健保署服務回報失敗", "the NHI service reported a failure"),
        AgentNetworkError,
        _SAM_HINT,
    )
    add(
        ("8302", "8303", "8306"),
        "PKCS#11異常",
        T(
            "元件的 PKCS#11 密碼模組失敗",
            "the component's PKCS#11 cryptographic module failed",
        ),
        AgentNetworkError,
        _COMPONENT_HINT,
    )
    add(
        ("8304", "8305"),
        "Session 建立異常",
        T(
            "與認證伺服器建立加密連線失敗",
            "setting up the encrypted session with the authentication server failed",
        ),
        AgentNetworkError,
        _SAM_HINT,
    )
    add(
        ("8300", "8301"),
        a001("8300"),
        T(
            "與認證伺服器建立加密連線失敗",
            "setting up the encrypted session with the authentication server failed",
        ),
        AgentNetworkError,
        _SAM_HINT,
    )
    add(
        ("9001", "9002"),
        "驗簽失敗",
        T("簽章驗證失敗", "signature verification failed"),
        AgentAuthRefused,
        T("請重新讀卡再試一次。", "Read the card again and retry."),
    )
    add(
        ("9999",),
        a001("9999"),
        T("讀卡機元件不認得此指令", "the component does not know this command"),
        AgentComponentBroken,
        T(
            "元件未正確安裝(component not installed properly):請重新安裝或更新元件,或改用 "
            "--agent direct。",
            "Component not installed properly: reinstall or update it, or use --agent direct.",
        ),
    )
    return {
        r.code: (
            r
            if not r.official_text.startswith(A001_PREFIX)
            else OfficialCode(r.code, a001(r.code), r.meaning, r.error_class, r.hint)
        )
        for r in rows
    }


OFFICIAL_CODES: dict[str, OfficialCode] = _table()

_MESSAGE = T(
    "讀卡元件錯誤 [{code}] {text}:{meaning}", "card agent error [{code}] {text}: {meaning}"
)


def agent_error(code: str, *, detail: str | None = None, hint: Text | None = None) -> AgentError:
    """The typed error for an official code. Unknown codes become a generic network error
    that still names the code."""
    entry = OFFICIAL_CODES.get(code)
    if entry is None:
        text = a001(code)
        return AgentNetworkError(
            T(
                "讀卡元件錯誤 [{code}] {text}:未知的錯誤碼",
                "card agent error [{code}] {text}: an unknown error code",
            ).format(code=code, text=text),
            official_code=code,
            official_text=text,
            hint=hint or _COMPONENT_HINT,
            detail=detail,
            reason=f"agent-{code}",
        )
    meaning = entry.meaning
    message = Text(
        _MESSAGE.zh.format(code=code, text=entry.official_text, meaning=meaning.zh),
        _MESSAGE.en.format(code=code, text=entry.official_text, meaning=meaning.en),
    )
    return entry.error_class(
        message,
        official_code=code,
        official_text=entry.official_text,
        hint=hint or entry.hint,
        detail=detail,
        reason=f"agent-{code}",
    )


def component_error(message: Text, *, detail: str | None = None) -> AgentNetworkError:
    """The component is unreachable or sent something we cannot read (no official code)."""
    return AgentNetworkError(message, hint=_COMPONENT_HINT, detail=detail, reason="agent-component")
