"""Group ``card``: a card present, what its ATR says, SELECT, READ PROFILE, the ID's check
digit and the termination flag — through the card engineer's session and profile code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nhicard.core.errors import NhicardError
from nhicard.core.i18n import T, Text
from nhicard.core.masking import mask_id, mask_name
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, warned
from nhicard.envcheck.pcsc import error_finding, readers
from nhicard.envcheck.usb import name_holders

if TYPE_CHECKING:
    from nhicard.card.profile import CardData, NhiProfile
    from nhicard.pcsc.readers import ReaderInfo

GROUP = "card"
INSERT_NHI = T(
    "請插入健保卡(晶片朝上、朝內);雙槽讀卡機請用 -r 指定讀卡機。",
    "Insert the NHI card (chip first, facing up); on a dual-slot reader choose it with -r.",
)
NOT_NHI_FIX = T("請改插入健保卡。", "Insert the NHI card instead.")


@dataclass
class CardProbe:
    """SELECT, READ PROFILE and READ CARD DATA on one connection, each outcome kept."""

    reader: str
    select_error: NhicardError | None = None
    profile: NhiProfile | None = None
    profile_error: NhicardError | None = None
    card_data: CardData | None = None
    data_error: NhicardError | None = None
    warnings: list[str] = field(default_factory=list)


def chosen_reader(env: CheckEnv) -> ReaderInfo:
    """The reader ``--reader`` names, else the one the card commands would pick."""
    from nhicard.pcsc.readers import choose_card_reader

    choose = env.choose_card_reader or choose_card_reader  # injectable for unit tests

    def compute() -> ReaderInfo:
        name = choose(env.reader)
        return next(i for i in readers(env) if i.name == name)

    info: ReaderInfo = env.memo("card-reader", compute)
    return info


def probe_card(env: CheckEnv) -> CardProbe:
    from nhicard.card.session import NhiCard
    from nhicard.pcsc.readers import connect_card

    connect = env.connect_card or connect_card  # injectable for unit tests

    def compute() -> CardProbe:
        reader = chosen_reader(env).name
        probe = CardProbe(reader)
        conn = connect(reader)
        try:
            card = NhiCard(conn)
            try:
                card.select()
            except NhicardError as err:
                probe.select_error = err
                return probe
            try:
                probe.profile = card.read_profile()
            except NhicardError as err:
                probe.profile_error = err
            try:
                probe.card_data = card.read_card_data()
            except NhicardError as err:
                probe.data_error = err
            probe.warnings = list(card.warnings)
        finally:
            conn.close()
        return probe

    result: CardProbe = env.memo("card-probe", compute)
    return result


def check_present(env: CheckEnv) -> Finding:
    from nhicard.pcsc.readers import ReaderState

    try:
        info = chosen_reader(env)
    except NhicardError as err:
        return error_finding(err, INSERT_NHI)
    if info.state in (ReaderState.PRESENT, ReaderState.IN_USE):
        return passed(
            T("讀卡機 {r} 中有卡片", "a card is in {r}").format(r=info.name),
            f"#{info.index} {info.name}: {info.state}",
        )
    if info.state == ReaderState.MUTE:
        return failed(
            T("讀卡機 {r} 中的卡片沒有回應", "the card in {r} does not respond").format(
                r=info.name
            ),
            T(
                "取出卡片重新插入(晶片朝上、朝內);仍無回應時卡片可能損壞。",
                "Take the card out and insert it again (chip first, facing up); if it still "
                "does not respond the card may be damaged.",
            ),
            f"#{info.index} {info.name}: mute",
        )
    return failed(
        T("讀卡機 {r} 中沒有卡片", "no card in {r}").format(r=info.name),
        INSERT_NHI,
        f"#{info.index} {info.name}: {info.state}",
    )


def check_atr(env: CheckEnv) -> Finding:
    from nhicard.pcsc.atr import format_atr

    info = chosen_reader(env)
    atr = format_atr(info.atr) if info.atr else "?"
    label = info.card_label or T("未知卡片", "unknown card")
    kind = info.card_type
    if kind == "nhi":
        # the label is "健保卡" itself, or says more (e.g. "健保卡(可能)")
        return passed(Text(f"ATR:{label.zh}", f"ATR: {label.en}"), atr)
    if kind == "nhi-unlisted":
        return passed(
            Text(
                f"{label.zh}:ATR 不在已知清單,但回應健保卡 SELECT",
                f"{label.en}: ATR not listed, but the card answers the NHI SELECT",
            ),
            atr,
        )
    if kind == "hpc":
        return failed(
            T(
                "這是醫事人員卡,不是健保卡",
                "this is a Health Professional Card, not an NHI card",
            ),
            T(
                "請改插入民眾的健保卡;雙槽讀卡機請確認插在哪一槽並用 -r 指定。",
                "Insert the person's NHI card instead; on a dual-slot reader check the slot "
                "and choose it with -r.",
            ),
            atr,
        )
    if kind == "moica":
        return failed(
            T("這是自然人憑證,不是健保卡", "this is a MOICA citizen certificate, not an NHI card"),
            NOT_NHI_FIX,
            atr,
        )
    return failed(
        Text(f"這不是健保卡({label.zh})", f"not an NHI card ({label.en})"),
        NOT_NHI_FIX,
        atr,
    )


def check_select(env: CheckEnv) -> Finding:
    try:
        probe = probe_card(env)
    except NhicardError as err:
        if err.reason == "sharing-violation":
            return name_holders(env, error_finding(err))
        return error_finding(err)
    if probe.select_error is not None:
        return error_finding(probe.select_error, NOT_NHI_FIX)
    if probe.warnings:
        from nhicard.card.notices import Notice

        notes = [w for w in probe.warnings if isinstance(w, Notice)]
        text = notes[0].text if notes else T("SELECT 有警告", "SELECT gave a warning")
        return warned(text, None, "; ".join(str(w) for w in probe.warnings))
    return passed(
        T("健保卡應用程式 SELECT 成功", "SELECT of the NHI applet succeeded"), probe.reader
    )


def _profile(env: CheckEnv) -> NhiProfile:
    profile = probe_card(env).profile
    assert profile is not None  # guaranteed by needs=("card.profile",)
    return profile


def check_profile(env: CheckEnv) -> Finding:
    from nhicard.card.notices import render_notice

    probe = probe_card(env)
    if probe.profile_error is not None or probe.profile is None:
        err = probe.profile_error
        if err is None:
            return failed(T("無法讀取基本資料", "the profile could not be read"), None)
        return error_finding(
            err,
            T(
                "取出卡片重新插入後再試;仍失敗時卡片資料可能損壞,請至健保署換發。",
                "Reinsert the card and try again; if it still fails the card's data may be "
                "damaged: have it replaced at an NHI office.",
            ),
        )
    p = probe.profile
    who = f"{mask_name(p.name)}, {mask_id(p.id_number)}, card {p.card_number[:4]}****{p.card_number[-4:]}"
    if p.warnings:
        return warned(
            Text(
                f"基本資料可讀取,但有異常:{render_notice(p.warnings[0], 'zh-TW')}",
                f"the profile was read with a problem: {render_notice(p.warnings[0], 'en')}",
            ),
            T(
                "資料可用;若姓名顯示不正確,請至健保署確認卡片資料。",
                "The data is usable; if the name shows wrongly, have the card checked at an "
                "NHI office.",
            ),
            who,
        )
    return passed(T("基本資料讀取成功({w})", "profile read ({w})").format(w=who), who)


def check_id_digit(env: CheckEnv) -> Finding:
    from nhicard.card.idnumber import id_check_ok

    p = _profile(env)
    masked = mask_id(p.id_number) or ""
    if id_check_ok(p.id_number):
        return passed(
            T("身分證號檢查碼正確({i})", "the ID number's check digit is right ({i})").format(
                i=masked
            ),
            masked,
        )
    return failed(
        T("身分證號 {i} 檢查碼不正確", "the ID number {i} fails its check digit").format(i=masked),
        T(
            "卡片上的資料不一致,網站會拒絕;請至健保署確認或換發健保卡。",
            "The card's data is inconsistent and the sites will refuse it; have the card "
            "checked or replaced at an NHI office.",
        ),
        masked,
    )


def check_termination(env: CheckEnv) -> Finding:
    probe = probe_card(env)
    if probe.data_error is not None or probe.card_data is None:
        if probe.data_error is None:
            return failed(T("無法讀取卡片註銷註記", "the termination flag could not be read"), None)
        return error_finding(probe.data_error)
    flag = probe.card_data.card_termination
    if probe.card_data.terminated:
        return failed(
            T(
                "此卡已註銷(註銷註記 {f})", "this card has been cancelled (termination flag {f})"
            ).format(f=flag),
            T(
                "已註銷的卡片無法註冊或登入;請使用新卡,或至健保署申請換發。",
                "A cancelled card cannot register or log in; use the new card, or apply for "
                "one at an NHI office.",
            ),
            f"card_termination={flag}",
        )
    return passed(
        T("卡片有效(未註銷)", "the card is valid (not cancelled)"), f"card_termination={flag}"
    )


def checks() -> list[Check]:
    return [
        Check("card.present", GROUP, check_present, needs=("pcsc.readers",)),
        Check("card.atr", GROUP, check_atr, needs=("card.present",)),
        Check("card.select", GROUP, check_select, needs=("card.atr",)),
        Check("card.profile", GROUP, check_profile, needs=("card.select",)),
        Check("card.id-check", GROUP, check_id_digit, needs=("card.profile",)),
        Check("card.termination", GROUP, check_termination, needs=("card.select",)),
    ]
