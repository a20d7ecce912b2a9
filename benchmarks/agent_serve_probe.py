"""Measures ``nhicard agent serve`` from outside, for the ``agent-serve`` figure
(agent_serve.py starts the sandbox and the service and runs this with the bench environment).

    python benchmarks/agent_serve_probe.py URL CA_FILE RUNS

Prints one JSON object:

- ``direct_h_sign`` / ``service_h_sign``: seconds per H_Sign, the same H_Sign made by the
  ``direct`` agent in this process (sandbox SAM, the card on the private pcscd) and through
  the service's WebSocket, alternately (A B B A …), ``RUNS`` each;
- ``get_version_busy``: seconds per ``GetVersion`` on a second connection, each sent while
  the first connection's H_Sign is in progress (``RUNS`` samples, more if needed).
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time

from websockets.sync.client import connect

from nhicard.agent.client.direct import DirectAgent
from nhicard.sites.loader import resolve_profile

VERSION_PLUS_RANDOM = "01234567890123456789"  # 20 characters, as the sites send
TIMEOUT = 30.0


def h_sign_through(ws: object) -> str:
    ws.send(f"H_Sign?Random={VERSION_PLUS_RANDOM}")  # type: ignore[attr-defined]
    reply = str(ws.recv(TIMEOUT))  # type: ignore[attr-defined]
    if not reply.startswith("H_Sign:"):
        raise SystemExit(f"H_Sign through the service answered {reply!r}")
    return reply


def main() -> int:
    url, ca_file, runs_text = sys.argv[1:4]
    runs = int(runs_text)
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("wss:") else None
    agent = DirectAgent(reader=None, sam=resolve_profile("sandbox").sam)
    direct: list[float] = []
    service: list[float] = []
    with connect(url, ssl=context, open_timeout=TIMEOUT) as ws:
        agent.h_sign(VERSION_PLUS_RANDOM)  # warm-up, unrecorded
        h_sign_through(ws)
        for i in range(runs):
            order = ["direct", "service"] if i % 2 == 0 else ["service", "direct"]
            for which in order:
                began = time.perf_counter()
                if which == "direct":
                    agent.h_sign(VERSION_PLUS_RANDOM)
                else:
                    h_sign_through(ws)
                (direct if which == "direct" else service).append(time.perf_counter() - began)

    busy: list[float] = []
    signing = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def sign_in_a_loop() -> None:
        try:
            with connect(url, ssl=context, open_timeout=TIMEOUT) as ws:
                while not done.is_set():
                    ws.send(f"H_Sign?Random={VERSION_PLUS_RANDOM}")
                    signing.set()
                    reply = str(ws.recv(TIMEOUT))
                    signing.clear()
                    if not reply.startswith("H_Sign:"):
                        raise RuntimeError(f"H_Sign answered {reply!r}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            signing.clear()

    signer = threading.Thread(target=sign_in_a_loop, daemon=True)
    deadline = time.monotonic() + 120
    with connect(url, ssl=context, open_timeout=TIMEOUT) as ws:
        signer.start()
        while len(busy) < runs and time.monotonic() < deadline and not errors:
            if not signing.wait(1.0):
                continue
            time.sleep(0.002)  # well inside the H_Sign (tens of ms)
            if not signing.is_set():
                continue
            began = time.perf_counter()
            ws.send("GetVersion")
            reply = str(ws.recv(TIMEOUT))
            elapsed = time.perf_counter() - began
            if not reply.startswith("GetVersion:"):
                raise SystemExit(f"GetVersion answered {reply!r}")
            busy.append(elapsed)
    done.set()
    signer.join(TIMEOUT)
    if errors:
        raise SystemExit(f"the signing connection failed: {errors[0]!r}")
    if len(busy) < runs:
        raise SystemExit(f"only {len(busy)} GetVersion samples during an H_Sign")
    print(
        json.dumps({"direct_h_sign": direct, "service_h_sign": service, "get_version_busy": busy})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
