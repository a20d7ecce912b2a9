"""Hosts files as they are found: a Big5, CRLF Windows hosts file."""

from __future__ import annotations

# Notepad's "ANSI" save on a zh-TW Windows: Big5 (cp950) comments, CRLF. 許 and 功 end in the
# byte 0x5C (a backslash in ASCII), the classic Big5 trap.
BIG5_CRLF = (
    "# Copyright (c) 1993-2009 Microsoft Corp.\r\n"
    "#\r\n"
    "# 這是 Microsoft TCP/IP for Windows 使用的 HOSTS 範例檔案。\r\n"
    "#\r\n"
    "# 資訊室 許功蓋 2023/05 加入:公司內部網站\r\n"
    "10.1.1.20\tintranet.example.com.tw\t# 內部網站\r\n"
    "#\t127.0.0.1       localhost\r\n"
    "#\t::1             localhost\r\n"
).encode("cp950")
