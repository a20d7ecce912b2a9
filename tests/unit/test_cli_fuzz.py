"""CLI fuzz test (issue 14): every command that returns by itself, run through
``nhicard.cli.main.main`` in a forked child per invocation, with generated option values and
files. Whatever the input, the exit code is one of the contract's, never an internal error
(a bug), no traceback reaches stderr, and nothing hangs (30 s per invocation).

Nothing waits long: PC/SC points at a socket that does not exist (exit 3; or, when this
test session already talks to its private pcscd, at that one, with no card in it), the
sandbox profile's sites at closed loopback ports (exit 7). Bounded in examples (50 per
command, about 25 s in all), for CI. Commands that run until stopped (``sandbox up``,
``sim card``, ``agent serve``, ``card verify --watch``) are left out."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhicard.cli.main import main
from nhicard.cli.params import Seconds
from tests.support.profiles import write_sandbox

COMMANDS = ["reader", "read", "verify", "env", "register", "verify-email", "ecpa", "sandbox",
            "completion"]  # fmt: skip
REGISTER_FIELDS = (
    ("--household-id", "F1234567"), ("--city", "臺北市"), ("--district", "大安區"),
    ("--village", "龍門里"), ("--neighborhood", "5"), ("--email", "ming@example.com"),
    ("--phone", "02-23456789"), ("--mobile", "0912345678"),
)  # fmt: skip
# cli-contract.md; 1 appears only for what is plainly not available (errors.NotAvailable,
# e.g. ecpa login with the real profile) — a bug shows as "internal error", asserted below
CONTRACT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130}
BUDGET_SECONDS = 20.0  # what one command's examples may take (all nine: a few seconds)
EXAMPLES = 50  # per command

# text a user (or a script gone wrong) might pass: ordinary words, numbers, junk, controls
junk = st.one_of(
    st.sampled_from(["", "0", "-1", "nan", "inf", "1e400", "0.001", "99999", "x" * 300]),
    st.text(max_size=30),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30),
    st.sampled_from(["林峯", "身分證字號A123456789號", "\x00", "\x01\x7f", "😀" * 21]),
)
seconds = st.one_of(junk, st.floats(allow_nan=True, allow_infinity=True).map(repr))


def _waits_long(text: str) -> bool:
    """Whether the CLI would take ``text`` as a wait of over 10 s (read by its own parameter
    type, as ``--wait`` and ``--timeout`` read it)."""
    try:
        return Seconds().convert(text, None, None) > 10.0
    except click.BadParameter:
        return False


# how long a command may wait for a card: a card may never come (this session's private pcscd
# has an empty reader), so a valid wait stays well under HANG_SECONDS (junk's "99999" is left
# out); "inf" and "1e400" are still tried
card_waits = st.one_of(
    junk.filter(lambda text: not _waits_long(text)),
    st.floats(max_value=10.0).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400"]),
)
urls = st.one_of(
    junk,
    st.sampled_from(
        [
            "https://[::1",
            "https://127.0.0.1:1/cloudic/system/x?t=1",
            "wss://127.0.0.1:99999/echo",
            "imaps://u@a..b/INBOX",
            "imaps://user@127.0.0.1:1/INBOX",
            "https://" + "a" * 300 + ".example/",
            "javascript:alert(1)",
        ]
    ),
    st.builds(lambda tail: "https://127.0.0.1:1/" + tail, st.text(max_size=40)),
)
mail_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda n: (
            "Subject: x\nMIME-Version: 1.0\n"
            + "".join(
                f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(n)
            )
            + "Content-Type: text/plain\n\nhttps://127.0.0.1:1/cloudic/system/x\n"
        ).encode(),
        st.integers(0, 400),
    ),
)


@st.composite
def invocations(draw: st.DrawFn, files: Path, command: str) -> list[str]:
    """One command line: root options, a command, its options."""
    args: list[str] = []
    if draw(st.booleans()):
        args += ["--lang", draw(st.sampled_from(["en", "zh-TW"]))]
    args += draw(st.sampled_from([[], ["-v"], ["-vv"], ["-q"]]))
    if draw(st.integers(0, 4)) == 4:
        args += ["--agent-url", draw(urls)]
    if draw(st.integers(0, 4)) == 4:
        args += ["--apdu-timeout", draw(seconds)]
    if draw(st.integers(0, 5)) == 5:
        args += ["-r", draw(junk)]
    if draw(st.integers(0, 5)) == 5:
        hostile_profiles = [str(files / name) for name in HOSTILE_PROFILES]
        args += [
            "--profile",
            draw(st.sampled_from(["real", "nonexistent.toml", *hostile_profiles]) | junk),
        ]
    else:
        args += ["--profile", "sandbox"]
    out = draw(st.sampled_from([[], ["--json"], ["--format", "csv"], ["--format", "table"]]))
    eml = files / f"m{draw(st.integers(0, 9))}.eml"
    eml.write_bytes(draw(mail_bytes))
    if command == "reader":
        return args + ["reader", "list", *out]
    if command == "read":
        extra = ["--wait", draw(card_waits)] if draw(st.booleans()) else []
        return args + ["card", "read", *extra, *out]
    if command == "verify":
        extra = ["--timeout", draw(card_waits)] if draw(st.booleans()) else []
        if draw(st.booleans()):
            extra += ["--report", str(files / draw(st.sampled_from(["r.csv", "r.jsonl", "r.txt"])))]
        return args + ["card", "verify", *extra, *out]
    if command == "env":
        only = ["--only", draw(junk)] if draw(st.booleans()) else []
        return args + ["env", "check", "--offline", *only, *out]
    if command == "register":
        fields = []
        for name, valid in REGISTER_FIELDS:
            fields += [name, draw(st.just(valid) | junk)]
        extra = ["--dry-run"] if draw(st.booleans()) else ["--yes"]
        if draw(st.booleans()):
            extra += ["--timeout", draw(seconds)]
        if draw(st.booleans()):
            extra += [
                "--save-pages",
                draw(st.sampled_from(["/dev/null", "/proc/self", str(files)])),
            ]
        return args + ["register", *fields, *extra, *out]
    if command == "verify-email":
        source = draw(
            st.sampled_from(
                [
                    ["--eml", str(eml)],
                    ["--link", draw(urls)],
                    ["--maildir", str(files / "Maildir")],
                    ["--mbox", str(eml)],
                    ["--imap", draw(urls)],
                ]
            )
        )
        if draw(st.booleans()):
            source += ["--since", draw(junk)]
        return args + ["verify-email", *source, *out]
    if command == "ecpa":
        extra = ["--return-url", draw(urls)] if draw(st.booleans()) else []
        if draw(st.booleans()):
            extra += ["--cookie-jar", draw(st.sampled_from(["/dev/full", str(files / "jar")]))]
        return args + ["ecpa", "login", *extra, *out]
    if command == "sandbox":
        sub = draw(st.sampled_from(["status", "down"]))
        return args + ["sandbox", sub, "--dir", draw(st.sampled_from(["/dev/null", str(files)]))]
    return args + ["completion", draw(st.sampled_from(["bash", "zsh", "fish"]) | junk)]


# profiles written into the files folder (fuzz_env): nested past any limit, an extends chain
# of 200 files, an unparsable URL, a device
HOSTILE_PROFILES = ("deep.toml", "chain0.toml", "bad-url.toml", "dev-zero.toml")
# the environment and standard streams an invocation may meet (issue 23, item 5)
environments = st.fixed_dictionaries(
    {},
    optional={
        "NHICARD_STATE_DIR": st.sampled_from(["/dev/null", "/proc/version"]),
        "NHICARD_SANDBOX_DIR": st.just("/dev/null"),
        "NHICARD_VPCD_PORT": st.sampled_from(["junk", "0", "99999999", "\udcff", "9" * 5000]),
        "NHICARD_PASSWORD": st.sampled_from(["", "\udcff\udcfeab12", "x" * 5000, "ab\x00cd12"]),
        "NHICARD_IMAP_PASSWORD": st.sampled_from(["", "\udcffimap"]),
    },
)
streams = st.sampled_from(["normal", "normal", "stdout-full", "stdout-closed", "stderr-full",
                           "stdin-closed"])  # fmt: skip

HANG_SECONDS = 30.0  # one invocation taking longer than this is a hang: the test fails


def run_in_process(
    argv: list[str], env: dict[str, str] | None = None, stream: str = "normal"
) -> tuple[int, str]:
    """``main(argv)`` in a forked child of this process (cheap, and whatever PC/SC or signal
    state the command sets up dies with it), stdin and stdout on /dev/null, stderr captured;
    returns (exit code, stderr). A child still running after HANG_SECONDS is killed and
    reported as a hang."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(os.open("/dev/full", os.O_WRONLY) if stream == "stdout-full" else null, 1)
            os.dup2(write_end, 2)
            sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            if stream == "stdout-closed":
                os.close(1)
                sys.stdout = None  # type: ignore[assignment] - what Python leaves for >&-
            if stream == "stdin-closed":
                os.close(0)
                sys.stdin = None  # type: ignore[assignment]
            # the streams cli.main treats as the process's own (cli.streams)
            sys.__stdin__, sys.__stdout__ = sys.stdin, sys.stdout  # type: ignore[misc]
            os.environ.update(env or {})
            from nhicard.pcsc import context as pcsc_context

            pcsc_context._shared = None  # never a PC/SC handle of the parent (its socket)
            try:
                main(argv)
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
            except BaseException:  # noqa: BLE001 - what escapes main() is a bug: show it
                import traceback

                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + HANG_SECONDS
    with os.fdopen(read_end, "rb") as pipe:
        os.set_blocking(pipe.fileno(), False)
        while True:
            ready, _, _ = select.select([pipe], [], [], 0.2)
            if ready:
                chunk = pipe.read(65536)
                if chunk:
                    chunks.append(chunk)
                    continue
                if chunk == b"":
                    break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"hang: {argv!r} still running after {HANG_SECONDS} s")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, b"".join(chunks).decode("utf-8", "replace")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# imported once here, so each forked child starts with them (a child costs ~5 ms, not ~50)
PRELOAD = (
    "nhicard.cli.reader_cmd", "nhicard.cli.card_cmd", "nhicard.cli.card_verify_cmd",
    "nhicard.cli.env_cmd", "nhicard.cli.register_cmd", "nhicard.cli.verify_email_cmd",
    "nhicard.cli.ecpa_cmd", "nhicard.cli.sandbox_cmd", "nhicard.cli.completion_cmd",
    "nhicard.cli.card_verify_view",
    "nhicard.flows.register", "nhicard.flows.register_input", "nhicard.flows.verify_email", "nhicard.flows.ecpa",
    "nhicard.mail", "nhicard.envcheck", "nhicard.sites.loader", "nhicard.card.batch",
    "nhicard.card.report",
    "nhicard.card.verification", "nhicard.pcsc.readers", "smartcard.scard", "httpx", "bs4",
    "tabulate",
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    base = tmp_path_factory.mktemp("fuzz")
    url = f"https://127.0.0.1:{closed_port()}"
    sandbox_dir = write_sandbox(base / "sandbox", nhi_url=url, ecpa_url=url, elearn_url=url)
    (sandbox_dir / "ca.pem").write_text("")
    files = base / "files"
    for sub in ("new", "cur", "tmp"):
        (files / "Maildir" / sub).mkdir(parents=True)
    (files / "deep.toml").write_text("x = " + "[" * 3000 + "]" * 3000)
    for i in range(200):
        parent = f"chain{i + 1}.toml" if i < 199 else "real"
        (files / f"chain{i}.toml").write_text(f'extends = "{parent}"\n')
    (files / "bad-url.toml").write_text('extends = "real"\n[nhi]\nbase_url = "https://[::1"\n')
    (files / "dev-zero.toml").symlink_to("/dev/zero")
    return files


@pytest.fixture
def isolated(fuzz_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sandbox_dir = fuzz_env.parent / "sandbox"
    monkeypatch.setenv("NHICARD_SANDBOX_DIR", str(sandbox_dir))
    monkeypatch.setenv("NHICARD_STATE_DIR", str(fuzz_env.parent / "state"))
    monkeypatch.setenv("NHICARD_PASSWORD", "Pw-246810")
    monkeypatch.setenv("NHICARD_IMAP_PASSWORD", "imap-pw")
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(fuzz_env.parent / "no-pcscd.comm"))
    monkeypatch.delenv("NHICARD_LANG", raising=False)
    monkeypatch.delenv("NHICARD_PROFILE", raising=False)
    return fuzz_env


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_fuzz_exit_codes_and_no_traceback(isolated: Path, command: str) -> None:
    started = time.monotonic()
    seen: list[tuple[list[str], int, str]] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.data_too_large],
    )
    @given(argv=invocations(isolated, command), env=environments, stream=streams)
    def one(argv: list[str], env: dict[str, str], stream: str) -> None:
        code, stderr = run_in_process(argv, env, stream)
        seen.append((argv, code, stderr))
        assert code in CONTRACT_CODES, (argv, code, stderr[-2000:])
        assert "Traceback" not in stderr, (argv, stderr[-2000:])
        assert "internal error" not in stderr and "內部錯誤" not in stderr, (argv, stderr)

    one()
    assert len(seen) >= 5, "the fuzz test ran too few examples to mean anything"
    assert time.monotonic() - started < BUDGET_SECONDS, "too slow for CI: fewer examples"
