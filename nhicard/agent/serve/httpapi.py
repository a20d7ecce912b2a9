"""The HTTP API of the official component's Windows builds (nhi-agent.md), for
``agent serve``: which API call is which WebSocket command, the JSON replies, and the status
bitmaps whose pixels carry a JSON text.

``http://127.0.0.1:59001/api/`` and ``https://127.0.0.1:59002/api/``:

| request | reply (JSON) |
|---|---|
| ``POST GetVersion`` | ``{"result": "0000", "version": "0011"}`` |
| ``POST GetRandom`` | ``{"result": "0000", "random": "<16 digits>"}`` |
| ``POST GetBasic`` | ``{"result", "card_no", "as_id", "name", "birthday", "sex", "card_termination"}`` |
| ``POST SignHC`` ``{"random": "<20> or <16>"}`` | ``{"result", "sign"}`` |
| ``POST EncryptPwd`` ``{"pwd": …}`` | ``{"result", "data"}`` (``data``: our name, the official one is not public) |
| ``POST GetEncryptBasic`` ``{"pwd": …}`` | ``{"result", "data"}`` (same) |
| ``GET GetStatus.bmp`` | bitmap of ``{"result": "0000", "version": "0011", "service": "nhicard"}`` |
| ``GET GetCardStatus.bmp`` | bitmap of ``{"result": "0000" or the card's error code, "card": "1" or "0"}`` |

The fields inside the bitmaps are ours (the official ones are not public). ``result`` is
``"0000"`` on success, else the official error code (``"4041"``: origin refused).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from urllib.parse import parse_qsl

from nhicard.agent.base import BasicData
from nhicard.agent.errors import AgentError

OK = "0000"
BAD_ARGUMENT = "9999"
POST_CALLS = ("GetVersion", "GetRandom", "GetBasic", "SignHC", "EncryptPwd", "GetEncryptBasic")
BITMAP_CALLS = ("GetStatus.bmp", "GetCardStatus.bmp")
MAX_BITMAP_WIDTH = 1024
MAX_BODY = 4096


def parse_body(body: bytes) -> dict[str, str]:
    """The parameters of a POST body: a JSON object (what jQuery ``$.post`` sends, with a
    form content type) or, failing that, form fields. Non-string values are ignored."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return dict(parse_qsl(text, keep_blank_values=True))
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, str)}


def command_for(call: str, params: Mapping[str, str]) -> str | None:
    """The WebSocket command an API call stands for; None when a parameter is missing."""
    if call in ("GetVersion", "GetRandom", "GetBasic"):
        return call
    if call == "SignHC":
        random = params.get("random")
        return None if random is None else "H_Sign?Random=" + random
    if call in ("EncryptPwd", "GetEncryptBasic"):
        pwd = params.get("pwd")
        if pwd is None:
            return None
        return ("EnCrypt?Pwd=" if call == "EncryptPwd" else "SecureGetBasicWithParam?Pwd=") + pwd
    return None


def json_reply(call: str, reply: str) -> dict[str, str]:
    """The JSON answer of ``call`` from the WebSocket reply (``Command:payload`` or a code)."""
    if reply.isdigit():
        return {"result": reply}
    payload = reply.partition(":")[2]
    if call == "GetVersion":
        return {"result": OK, "version": payload}
    if call == "GetRandom":
        return {"result": OK, "random": payload}
    if call == "SignHC":
        return {"result": OK, "sign": payload}
    if call == "GetBasic":
        try:
            basic = BasicData.from_wire(payload)
        except AgentError:
            return {"result": BAD_ARGUMENT}
        return {
            "result": OK,
            "card_no": basic.card_number,
            "as_id": basic.id_number,
            "name": basic.name,
            "birthday": basic.birth_date_roc,
            "sex": basic.sex,
            "card_termination": basic.card_termination,
        }
    return {"result": OK, "data": payload}


def status_bitmap(doc: Mapping[str, str]) -> bytes:
    """A 24-bit BMP one pixel high whose pixels carry ``doc`` as JSON: pixel *i* holds
    characters 3i, 3i+1, 3i+2 as its blue, green and red bytes (what the client script reads
    back, skipping zero bytes). ASCII only (JSON's ``\\u`` escapes), at most 1024 pixels."""
    text = json.dumps(dict(doc), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    width = max(1, -(-len(text) // 3))
    if width > MAX_BITMAP_WIDTH:
        raise ValueError("status text too long for one bitmap row")
    row = text.ljust(width * 3, b"\0")
    row += b"\0" * (-len(row) % 4)  # rows are padded to 4 bytes
    header_size = 14 + 40
    info = struct.pack("<IiiHHIIiiII", 40, width, 1, 1, 24, 0, len(row), 2835, 2835, 0, 0)
    file_header = struct.pack("<2sIHHI", b"BM", header_size + len(row), 0, 0, header_size)
    return file_header + info + row


def decode_status_bitmap(bmp: bytes) -> str:
    """The text in a status bitmap, read as the client script reads the decoded pixels
    (blue, green, red of each pixel; zero bytes skipped). For tests and ``agent status``."""
    if len(bmp) < 54 or bmp[:2] != b"BM":
        raise ValueError("not a BMP")
    (offset,) = struct.unpack_from("<I", bmp, 10)
    width, height = struct.unpack_from("<ii", bmp, 18)
    (bpp,) = struct.unpack_from("<H", bmp, 28)
    if bpp != 24 or height == 0 or not 0 < width <= MAX_BITMAP_WIDTH:
        raise ValueError("not a one-row 24-bit status bitmap")
    pixels = bmp[offset : offset + width * 3]
    return "".join(chr(b) for b in pixels if b)
