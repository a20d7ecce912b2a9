"""The ``direct`` backend: our own PC/SC card layer plus our own SAM client.

It needs no official component. The card is opened per operation (readers are enumerated
each time, so a reader plugged in later works) and left as it is (LEAVE_CARD).

``get_version`` answers :data:`DIRECT_AGENT_VERSION` = ``"0011"``: the version of the official
component (2024 build) whose command set and SAM exchange this backend reproduces. The
version travels to the NHI server as the first 4 of H_Sign's 20 characters, so we present the
protocol level we implement rather than a number of our own that the server may not know.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import TYPE_CHECKING

from nhicard.agent.base import (
    AgentKind,
    AgentSelection,
    BasicData,
    check_password_length,
    check_version_plus_random,
)
from nhicard.agent.errors import AgentError, agent_error
from nhicard.agent.sam import encrypt
from nhicard.agent.sam.client import ClientKeys, SamClient, SamEndpoint
from nhicard.core.clock import Clock, taipei_date, utc_now
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import CardAbsent, CardFailure, NhicardError, PcscUnavailable, ReaderError
from nhicard.core.i18n import T
from nhicard.transport.traffic import log_note

if TYPE_CHECKING:
    from nhicard.card.session import NhiCard
    from nhicard.transport.connection import Connection

DIRECT_AGENT_VERSION = "0011"
LOGGER = "nhicard.agent"

CardOpener = Callable[[str | None], AbstractContextManager["Connection"]]
SamClientFactory = Callable[[SamEndpoint], SamClient]
Rng = Callable[[int], bytes]


def _default_opener(reader: str | None) -> AbstractContextManager[Connection]:
    from nhicard.pcsc.readers import open_card

    return open_card(reader)


def random_digits(rng: Rng, count: int = 16) -> str:
    """``count`` (≤ 19) uniformly random decimal digits from ``rng`` bytes."""
    limit = (1 << 64) // 10**count * 10**count
    while True:
        n = int.from_bytes(rng(8), "big")
        if n < limit:
            return f"{n % 10**count:0{count}d}"


class DirectAgent(ClosesOnExit):
    """:class:`~nhicard.agent.base.CardAgent` over our card layer and SAM client."""

    def __init__(
        self,
        *,
        reader: str | None,
        sam: SamEndpoint,
        clock: Clock | None = None,
        rng: Rng | None = None,
        card_opener: CardOpener | None = None,
        sam_client_factory: SamClientFactory | None = None,
        selection: AgentSelection | None = None,
        refill_keys: bool = False,
    ) -> None:
        """``refill_keys``: a long-lived agent (``agent serve``) keeps the next SAM client
        key made ahead after each H_Sign; a command's agent prepares only its first."""
        self.reader = reader
        self.sam = sam
        self._clock = clock or utc_now
        self._rng = rng or secrets.token_bytes
        self._open = card_opener or _default_opener
        if sam_client_factory is None:
            # the SAM session's RSA key is made while the flow does other things
            keys = ClientKeys(refill=refill_keys)
            keys.prepare()
            sam_client_factory = functools.partial(SamClient, rng=self._rng, keys=keys)
        self._sam_client = sam_client_factory
        self.selection = selection or AgentSelection(
            AgentKind.DIRECT, T("已指定 --agent direct", "--agent direct was chosen")
        )

    # -- CardAgent -----------------------------------------------------------------------
    def get_version(self) -> str:
        return DIRECT_AGENT_VERSION

    def get_random(self) -> str:
        return random_digits(self._rng)

    def get_basic(self) -> BasicData:
        with self._card() as card:
            return self._basic(card)

    def h_sign(self, version_plus_random: str) -> str:
        check_version_plus_random(version_plus_random)
        with self._card() as card, self._sam_client(self.sam) as sam:
            sam.open()
            with _step("7004"):
                card.select()
            with _step("8001"):
                card_id = card.read_card_id()
            with _step("8002"):
                challenge = card.get_challenge()
            au32 = sam.exchange_challenge(card_id, challenge)
            with _step("8006"):
                answer = card.mutual_auth(au32)
            signature = sam.exchange_signature(answer, version_plus_random)
            try:
                card.select_sam()
            except NhicardError as exc:  # the signature is already ours; only note it
                log_note(LOGGER, f"SELECT SAM after H_Sign failed: {exc}")
            return signature

    def encrypt_password(self, pwd: str) -> str:
        check_password_length(pwd)
        with self._card() as card:
            with _step("7004"):
                card.select()
            with _step("8001"):
                card_number = card.read_card_id()
        return encrypt.encrypt_password(card_number, pwd, self._today(), self._rng)

    def secure_get_basic(self, pwd: str) -> str:
        """As published: the password is not used (nhi-agent.md)."""
        with self._card() as card:
            basic = self._basic(card)
        return encrypt.encrypt_secure_basic(basic, self._today(), self._rng)

    def check_card(self) -> None:
        """Is an NHI card in the reader? (``GetCardStatus`` of the HTTP API: SELECT only, no
        personal data read.) Raises the official error otherwise."""
        with self._card() as card, _step("7004"):
            card.select()

    def close(self) -> None:
        """Nothing is held between operations."""

    # -- helpers ---------------------------------------------------------------------------
    def _today(self) -> date:
        return taipei_date(self._clock())

    def _basic(self, card: NhiCard) -> BasicData:
        with _step("7004"):
            card.select()
        with _step("8011"):
            profile = card.read_profile()
        with _step("8010"):
            data = card.read_card_data()
        return BasicData(
            card_number=profile.card_number,
            id_number=profile.id_number,
            name=profile.name,
            birth_date_roc=profile.birth_date_roc,
            sex=profile.sex,
            card_termination=data.card_termination,
        )

    @contextmanager
    def _card(self) -> Iterator[NhiCard]:
        from nhicard.card.session import NhiCard

        try:
            cm = self._open(self.reader)
            conn = cm.__enter__()
        except PcscUnavailable as exc:
            raise _from("7001", exc) from exc
        except ReaderError as exc:
            raise _from("7002", exc) from exc
        except (CardAbsent, CardFailure) as exc:
            raise _from("7004", exc) from exc
        try:
            yield NhiCard(conn)
        except BaseException as exc:
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            cm.__exit__(None, None, None)


def _from(code: str, exc: NhicardError) -> AgentError:
    """The official error for ``code``, keeping the card layer's own words as detail."""
    detail = str(exc.message.en) if exc.message else None
    if exc.detail:
        detail = f"{detail} ({exc.detail})" if detail else exc.detail
    return agent_error(code, detail=detail)


_GONE = ("card-removed", "no-card")


@contextmanager
def _step(code: str) -> Iterator[None]:
    """Translate card-layer errors of one step into the official code of that step; a card
    pulled or a reader gone mid-way is 8013 whatever the step."""
    try:
        yield
    except AgentError:
        raise
    except (CardAbsent, PcscUnavailable, ReaderError) as exc:
        if code == "7004" and isinstance(exc, CardAbsent) and exc.reason not in _GONE:
            raise _from("7004", exc) from exc
        raise _from("8013", exc) from exc
    except CardFailure as exc:
        raise _from(code, exc) from exc
