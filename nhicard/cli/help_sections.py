"""The parts of every command's help after its options: output fields, exit codes, examples
(and, for ``nhicard`` itself, the environment variables). English source strings: each is
one entry of the zh_TW catalog (``nhicard/locale``), rendered by :mod:`nhicard.cli.help_layout`.

Exit codes are those of ``cli-contract.md``; a command lists only the ones it can return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for translation only"
    """Marks an English source string for the catalog; translated when rendered."""
    return message


@dataclass(frozen=True)
class Sections:
    """``fields``: what the command prints (None: it prints no data); ``exit_codes``: (code,
    meaning) with meaning None for the contract's own wording; ``examples``: (command line,
    what it does). ``fields_extra`` renders more lines in a given language (lists built from
    the code, such as card verify's reason codes)."""

    fields: str | None
    exit_codes: tuple[tuple[int, str | None], ...]
    examples: tuple[tuple[str, str], ...]
    fields_extra: Callable[[str], str] | None = field(default=None, compare=False)


# The contract's meaning of each exit code (cli-contract.md)
EXIT_MEANINGS: dict[int, str] = {
    0: N_("success"),
    1: N_("internal error: a bug in nhicard (a short hint; the traceback with -v)"),
    2: N_(
        "usage error: a wrong option, value or input file, or a file or stream that cannot be read or written"
    ),
    3: N_("PC/SC unavailable: pcscd not running, or its library missing"),
    4: N_("no reader, or the reader named by -r not found"),
    5: N_("no card, card removed, or not an NHI card"),
    6: N_("the card answered with an error, or its data is unreadable"),
    7: N_("network or TLS failure, site unreachable or answering 5xx"),
    8: N_("the site rejected the input"),
    9: N_("authentication refused: wrong password, signature rejected, account locked"),
    10: N_("env check found at least one failure"),
    11: N_("the site's page is not what the profile describes (the page is saved)"),
    130: N_("interrupted (Ctrl-C, SIGTERM, SIGHUP)"),
}

# Every environment variable nhicard reads: (name, what it does). The README's
# "Environment" section lists the same names (tests/unit/test_help_layout.py).
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("NHICARD_READER", N_("the reader, as -r / --reader")),
    ("NHICARD_AGENT", N_("the card agent backend, as --agent")),
    ("NHICARD_AGENT_URL", N_("the official component's address, as --agent-url")),
    ("NHICARD_PROFILE", N_("the site profile, as --profile (real, sandbox or a TOML file)")),
    ("NHICARD_LANG", N_("the language of messages and help, as --lang (zh-TW or en)")),
    ("NHICARD_VERBOSE", N_("more detail, as -v (a number: 2 is -vv)")),
    ("NHICARD_QUIET", N_("only results and errors, as -q")),
    ("NHICARD_APDU_TIMEOUT", N_("seconds the card may take to answer, as --apdu-timeout")),
    ("NHICARD_NO_COLOR", N_("no colours, as --no-color")),
    (
        "NHICARD_ALLOW_PROFILE_HOSTS",
        N_("let a profile send the password to other hosts, as --allow-profile-hosts"),
    ),
    ("NHICARD_PASSWORD", N_("the card's registration password (register, ecpa login)")),
    ("NHICARD_IMAP_PASSWORD", N_("the mailbox password of verify-email --imap")),
    (
        "NHICARD_STATE_DIR",
        N_("where journals, certificates and the default sandbox are kept"),
    ),
    ("NHICARD_SANDBOX_DIR", N_("the sandbox directory [default: <state dir>/sandbox]")),
    ("NHICARD_VPCD_PORT", N_("first port of the virtual reader vpcd [default: 35963]")),
    ("NO_COLOR", N_("when set (to anything), no colours")),
    ("PCSCLITE_CSOCK_NAME", N_("pcsc-lite's socket (Linux), as pcscd itself reads it")),
    (
        "NHICARD_<COMMAND>_<OPTION>",
        N_("any command's option, e.g. NHICARD_ENV_CHECK_TIMEOUT=10"),
    ),
    ("LC_ALL, LC_MESSAGES, LANG", N_("the locale: zh* or en* chooses the language")),
)

_OK = ((0, None),)
_USAGE = ((2, None),)
_CARD = ((3, None), (4, None), (5, None), (6, None))
_WEB = ((7, None), (8, None), (9, None), (11, None))
_INTERRUPTED = ((130, None),)


def _group(*examples: tuple[str, str]) -> Sections:
    return Sections(
        fields=None,
        exit_codes=(
            (0, N_("help shown")),
            (2, N_("usage error; each command's help lists its own exit codes")),
        ),
        examples=examples,
    )


def _reason_lines(lang: str) -> str:
    from nhicard.card.verification import Reason

    width = max(len(r.code) for r in Reason) + 2
    return "\b\n" + "\n".join(f"{r.code.ljust(width)}{r.description.render(lang)}" for r in Reason)


SECTIONS: dict[str, Sections] = {
    "": Sections(
        fields=None,
        exit_codes=tuple((code, None) for code in EXIT_MEANINGS),
        examples=(
            (
                "nhicard env check",
                N_("Check the readers, the card, the component and the network."),
            ),
            ("nhicard card read -r 0 --json", N_("Read the card in reader 0 as JSON.")),
            ("nhicard --lang en card read --help", N_("The help of card read in English.")),
        ),
    ),
    "reader": _group(("nhicard reader list", N_("List the readers."))),
    "reader list": Sections(
        fields=N_(
            "index, name, state (empty, present, in-use, mute, unavailable), atr, card_type "
            "(nhi, nhi-unlisted, hpc, moica, unknown, or null), card_label."
        ),
        exit_codes=(*_OK, *_USAGE, (3, None)),
        examples=(
            ("nhicard reader list", N_("Every reader, its state and its card.")),
            ("nhicard reader list --json", N_("The same as JSON.")),
        ),
    ),
    "card": _group(
        ("nhicard card read", N_("Read the card.")),
        ("nhicard card verify --watch -r 0", N_("Verify a box of cards, one after another.")),
    ),
    "card read": Sections(
        fields=N_(
            "reader, atr, card_type, card_number, name, id_number, birth_date (ISO 8601), "
            "birth_date_roc, sex, issue_date, issue_date_roc, card_termination, warnings "
            "(a list of strings)."
        ),
        exit_codes=(
            *_OK,
            *_USAGE,
            (3, N_("PC/SC service unavailable")),
            (4, N_("no reader, or the reader named by -r not found or ambiguous")),
            (
                5,
                N_(
                    "no card, card pulled, or not an NHI card (a Health Professional Card or "
                    "a MOICA card is named)"
                ),
            ),
            (
                6,
                N_(
                    "the card answered with an error, its data is unreadable, or another "
                    "program holds it exclusively (after a few retries)"
                ),
            ),
        ),
        examples=(
            ("nhicard card read", N_("Read the card in the reader that holds one.")),
            ("nhicard card read -r 0 --mask --json", N_("Reader 0, personal data masked, JSON.")),
            ("nhicard card read --wait 30", N_("Wait up to 30 seconds for a card.")),
        ),
    ),
    "card verify": Sections(
        fields=N_(
            "One record per card (stdout; with --watch one line per card; --report): "
            "verified_at, reader, atr, card_type, card_number, id_number (masked unless "
            "--show-pii), result (ok or failed), reason, apdu_ms. With --watch, json means one "
            "JSON object per line (like jsonl).\n\n"
            "A verification: ATR identified, SELECT, READ PROFILE, profile parsed, ID check "
            "digit, dates plausible (birth date <= issue date <= today), READ CARD DATA, "
            "termination flag not set. A card pulled out, held by another program, mute, or "
            "failing to communicate is shown and reported but not counted by --count: insert "
            "it again. A card inserted again is ignored (said on stderr); so is a card the "
            "report already lists as ok, unless --recheck. Reason codes:"
        ),
        fields_extra=_reason_lines,
        exit_codes=(
            (0, N_("every card verified ok")),
            (2, N_("usage error (e.g. a report name not ending in .csv or .jsonl)")),
            (3, N_("PC/SC service unavailable (with --watch: for more than 30 s)")),
            (4, N_("no reader, reader not found, or several readers without -r / --all-readers")),
            (5, N_("without --watch: no card")),
            (6, N_("at least one card failed verification")),
            (130, N_("interrupted (Ctrl-C) with no card failed")),
        ),
        examples=(
            ("nhicard card verify", N_("Verify the card in the reader.")),
            (
                "nhicard -r 0 card verify --watch --report box-2026-11.csv",
                N_(
                    "A box of cards in reader 0, one after another, each appended to the "
                    "report (with several readers, name one with -r)."
                ),
            ),
        ),
    ),
    "env": _group(("nhicard env check", N_("Run every check."))),
    "env check": Sections(
        fields=N_(
            'JSON: {"checks": [{"id", "group", "status", "summary", "detail", "fix"}], '
            '"summary": {"pass", "warn", "fail", "skip"}}; status is pass, warn, fail or skip.'
        ),
        exit_codes=(
            (0, N_("nothing failed (warnings allowed)")),
            *_USAGE,
            (10, N_("a check failed")),
        ),
        examples=(
            ("nhicard env check", N_("Run every check.")),
            (
                "nhicard env check --offline --only pcsc,card",
                N_("Only the reader and card checks."),
            ),
        ),
    ),
    "register": Sections(
        fields=N_(
            '{"status": "submitted" | "already-registered" | "dry-run", "email": where the '
            "verification mail goes}."
        ),
        exit_codes=(
            *_OK,
            (
                2,
                N_(
                    "bad input, the run journal cannot be written (disk full), or another run "
                    "for the card is under way"
                ),
            ),
            (3, None),
            (4, None),
            (5, None),
            (6, None),
            (7, N_("network failure (a rerun continues safely)")),
            (8, N_("the site refused the input (household mismatch, bad e-mail, …)")),
            (9, None),
            (11, None),
            *_INTERRUPTED,
        ),
        examples=(
            (
                "nhicard register --household-id A1234567 --city 臺北市 --district 大安區 "
                "--village 龍門里 --neighborhood 5 --email me@example.com --phone 02-23456789 "
                "--mobile 0912345678 --dry-run",
                N_("Walk every page without the final submit."),
            ),
        ),
    ),
    "verify-email": Sections(
        fields=N_('{"status": "verified"}.'),
        exit_codes=(
            *_OK,
            (
                2,
                N_(
                    "usage error (no or several sources, mail file missing, bad --since or IMAP URL)"
                ),
            ),
            (3, None),
            (4, None),
            (5, N_("no card in the reader")),
            (6, None),
            (7, N_("network or TLS failure, or the IMAP server unreachable")),
            (
                8,
                N_(
                    "no verification mail (yet), a foreign link refused, the link expired "
                    "(link-expired), already used (link-used) or unknown (link-invalid), other "
                    "site messages"
                ),
            ),
            (
                9,
                N_("another card than the one registered (wrong-card), or the IMAP login refused"),
            ),
            (11, None),
            *_INTERRUPTED,
        ),
        examples=(
            ("nhicard verify-email --eml mail.eml", N_("Follow the link of a saved mail.")),
            (
                "nhicard verify-email --maildir ~/Maildir --wait 300",
                N_("Wait up to 5 minutes for the mail in a Maildir."),
            ),
        ),
    ),
    "ecpa": _group(("nhicard ecpa login", N_("Sign in to eCPA with the card."))),
    "ecpa login": Sections(
        fields=N_(
            '{"status": "logged-in", "name": as the landing page shows it, "url": where it '
            "landed}. With --return-url, name and url are the application's."
        ),
        exit_codes=(
            *_OK,
            (2, N_("usage error (no password source, card password not 6-12 characters)")),
            *_CARD,
            (7, N_("network or TLS failure, site unreachable or in maintenance")),
            (
                8,
                N_(
                    "the site refused otherwise (card not registered, return URL not accepted, "
                    "challenge expired)"
                ),
            ),
            (
                9,
                N_(
                    "authentication refused: wrong password or unknown account, locked, "
                    "revoked, signature or card data refused, the application refused the "
                    "sign-on"
                ),
            ),
            (
                11,
                N_(
                    "the page is not what the profile describes (saved, path printed), or the "
                    "profile lacks the column's chain"
                ),
            ),
            *_INTERRUPTED,
        ),
        examples=(
            ("nhicard ecpa login --password-stdin < pw.txt", N_("Sign in with the card.")),
            (
                "nhicard ecpa login --return-url https://elearn.hrd.gov.tw/sso_verify.php",
                N_("Continue the sign-on into e-learning."),
            ),
        ),
    ),
    "sandbox": _group(
        ("nhicard sandbox up", N_("Start the sandbox.")),
        ("nhicard sandbox down", N_("Stop it.")),
    ),
    "sandbox up": Sections(
        fields=N_(
            "nhi_url, ecpa_url, smtp, maildir, ca_bundle, sam, readers (--format json: one "
            "JSON object)."
        ),
        exit_codes=(
            (0, N_("every part answers (also when it was already up)")),
            (2, N_("usage error, or the directory cannot be written")),
            (7, N_("a part did not start or answer")),
        ),
        examples=(
            ("nhicard sandbox up", N_("Start the sandbox and print its endpoints.")),
            ("nhicard sandbox up --no-card --json", N_("Without the virtual card, as JSON.")),
        ),
    ),
    "sandbox down": Sections(
        fields=N_("status (stopped or not-running), pid, dir."),
        exit_codes=(*_OK, *_USAGE),
        examples=(("nhicard sandbox down", N_("Stop the sandbox of the default directory.")),),
    ),
    "sandbox status": Sections(
        fields=N_("One row per part: part, address, state."),
        exit_codes=(
            (0, N_("the state was read, also when the sandbox is not running (up: false)")),
            *_USAGE,
            (7, N_("a part of a running sandbox is not answering")),
        ),
        examples=(("nhicard sandbox status --json", N_("Each part's state as JSON.")),),
    ),
    "sim": _group(("nhicard sim card", N_("Run a virtual card on vpcd slot 0."))),
    "sim card": Sections(
        fields=None,
        exit_codes=(
            (0, N_("stopped with Ctrl-C or SIGTERM")),
            (2, N_("usage error (a bad --fault, no such card number in the data)")),
            (7, N_("vpcd could not be reached within --wait")),
        ),
        examples=(
            ("nhicard sim card", N_("The first card of the built-in data on slot 0.")),
            ("nhicard sim card --slot 1 --fault t0,delay=50", N_("A slow T=0 card on slot 1.")),
        ),
    ),
    "agent": _group(
        ("nhicard agent serve", N_("Serve the card to web pages.")),
        ("nhicard agent status", N_("What agent install set up.")),
    ),
    "agent serve": Sections(
        fields=None,
        exit_codes=(
            (0, N_("stopped with Ctrl-C or SIGTERM")),
            (2, N_("usage error (e.g. --key without --cert), or no free port")),
            (7, N_("the port is taken, or the TLS material cannot be used")),
        ),
        examples=(
            ("nhicard agent serve", N_("Serve the card in the reader on port 7777.")),
            ("nhicard --profile sandbox agent serve -r 0", N_("For the sandbox's sites.")),
        ),
    ),
    "agent install": Sections(
        fields=N_(
            "status (installed or dry-run), changes (one per step: kind, target, description), "
            "notices (what a person must still do)."
        ),
        exit_codes=(
            *_OK,
            (2, N_("usage error, or a step was refused (permissions); earlier steps undone")),
        ),
        examples=(
            ("nhicard agent install --dry-run", N_("Show every change; change nothing.")),
            ("sudo nhicard agent install --browser-policy", N_("Also the browsers' policy.")),
        ),
    ),
    "agent uninstall": Sections(
        fields=N_("status (uninstalled or dry-run), changes (one per step removed)."),
        exit_codes=(*_OK, (2, N_("usage error, or a step was refused (permissions)"))),
        examples=(("nhicard agent uninstall", N_("Remove what agent install added.")),),
    ),
    "agent status": Sections(
        fields=N_(
            "item, ok, detail: the certificate, trust per store, hosts, the login service, "
            "each browser policy, and GetVersion at --agent-url (json: the whole document)."
        ),
        exit_codes=(*_OK, *_USAGE),
        examples=(("nhicard agent status --json", N_("The whole status as JSON.")),),
    ),
    "completion": Sections(
        fields=N_("The completion script of the shell."),
        exit_codes=(*_OK, *_USAGE),
        examples=(
            ('eval "$(nhicard completion bash)"', N_("Completion in this bash session.")),
            (
                "nhicard completion fish > ~/.config/fish/completions/nhicard.fish",
                N_("Install it for fish."),
            ),
            (
                "nhicard completion powershell | Out-String | Invoke-Expression",
                N_("Completion in this PowerShell session (add the line to $PROFILE)."),
            ),
        ),
    ),
}


def sections_for(path: str) -> Sections | None:
    """The sections of the command ``path`` (``"card read"``; ``""`` for nhicard itself)."""
    return SECTIONS.get(path)
