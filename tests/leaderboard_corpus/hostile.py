"""A generated corpus of hostile and malformed submissions (the big ones are too big to commit).

:func:`hostile_files` gives name -> bytes, every one invalid for the 10-row competition of
``expected.toml`` (Ids 0..9, true class of Id i is (3 i) % 10); :func:`special_entries` puts
things that are not regular files where a ``submission.csv`` belongs. Together with the
committed ``cases/`` they are graded in one ``leaderboard score`` run
(tests/test_leaderboard_corpus_run.py).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

ROWS = 10
LINES = [f"{i},{(3 * i) % 10}" for i in range(ROWS)]


def _csv(lines, header="Id,Category", end="\n") -> bytes:
    return (end.join([header, *lines]) + end).encode()


def valid() -> bytes:
    return _csv(LINES)


def hostile_files() -> dict[str, bytes]:
    good = valid()
    cases = {
        # the crashes and costs
        "id_5000_digits": _csv(["9" * 5000 + ",3", *LINES[1:]]),
        "label_5000_digits": _csv(["0," + "7" * 5000, *LINES[1:]]),
        "id_4301_digits_short_line": _csv(["1" * 250 + ",0", *LINES[1:]]),
        "id_19_digits": _csv(["1" * 19 + ",0", *LINES[1:]]),
        "id_40_digits_quoted": _csv(['"' + "1" * 40 + '",0', *LINES[1:]]),
        "field_131k": _csv(['0,"' + "a" * 131_073 + '"', *LINES[1:]]),
        "line_249k": _csv(["0," + "1" * 249_000, *LINES[1:]]),
        "one_line_1mb": b"Id,Category\n" + b"0" * (1 << 20),
        "rows_100k": _csv(LINES + ["1,1"] * 100_000),
        "rows_1m_tiny": b"Id,Category\n" + b"1,1\n" * 1_000_000,
        "header_100k": ("Id," + "C" * 100_000 + "\n").encode() + "\n".join(LINES).encode(),
        "unclosed_quote": _csv(['"0,0', *LINES[1:]]),
        "quotes_across_lines": _csv(['0,"3', '"', *LINES[1:]]),
        # bytes that are not text
        "nul_in_header": b"Id,Cat\x00egory\n" + "\n".join(LINES).encode(),
        "nul_after_8k": good + b"\n" * 9000 + b"5,5\x00\n",
        "all_nul": b"\x00" * 4096,
        "random_bytes": bytes((i * 7919 + 13) % 256 for i in range(5000)),
        "bad_utf8_label": b"Id,Category\n0,\xff\n" + "\n".join(LINES[1:]).encode() + b"\n",
        "latin1_header": "Id,Catégorie\n".encode("latin-1") + "\n".join(LINES).encode(),
        "overlong_utf8": b"Id,Category\n0,\xc0\xb3\n" + "\n".join(LINES[1:]).encode() + b"\n",
        "utf32": good.decode().encode("utf-32"),
        "gzip_of_csv": b"\x1f\x8b\x08\x00" + b"\x00" * 40,
        "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "pdf": b"%PDF-1.7\n" + b"%\xe2\xe3\xcf\xd3\n" * 4,
        "npy": b"\x93NUMPY\x01\x00" + b" " * 64,
        "xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
        "control_chars": b"Id,Category\n" + b"\x01\x02\x03,\x04\n" * 200,
        "escape_sequences": _csv(["0,\x1b[31mred\x1b[0m", *LINES[1:]]),
        # injection in what is echoed back
        "formula_id": _csv(['=HYPERLINK("http://evil.example","x"),0', *LINES[1:]]),
        "formula_label": _csv(["0,=1+2", "1,+1+2", "2,@SUM(A1)", "3,-2+3", *LINES[4:]]),
        "html_label": _csv(["0,<script>alert(1)</script>", "1,<img src=x onerror=alert(1)>", *LINES[2:]]),
        "markdown_label": _csv(["0,**bold**|[x](javascript:alert(1))", *LINES[1:]]),
        "rich_markup_label": _csv(["0,[bold red]boom[/]", *LINES[1:]]),
        "newline_in_quoted_label": _csv(['0,"3\n4"', *LINES[1:]]),
        # numbers that are not what they seem
        "unicode_digits": _csv(["٣,3", *LINES[1:]]),
        "fullwidth_digits": _csv(["０,0", *LINES[1:]]),
        "label_inf": _csv(["0,inf", *LINES[1:]]),
        "label_1e999": _csv(["0,1e999", *LINES[1:]]),
        "label_hex": _csv(["0,0x3", *LINES[1:]]),
        "label_underscore": _csv(["0,1_0", *LINES[1:]]),
        "label_plus_letter": _csv(["0,+x", *LINES[1:]]),
        "negative_id": _csv(["-0,0", "-1,3", *LINES[2:]]),
        "id_float": _csv(["0.0,0", *LINES[1:]]),
        "id_exponent": _csv(["1e1,0", *LINES[1:]]),
        "label_true": _csv(["0,True", *LINES[1:]]),
        "probabilities": _csv([f"{i}," + ",".join(["0.1"] * 10) for i in range(ROWS)],
                              header="Id," + ",".join(f"p{k}" for k in range(10))),
        # structure
        "header_only_bom_crlf": b"\xef\xbb\xbfId,Category\r\n",
        "header_twice": _csv(["Id,Category", *LINES]),
        "duplicate_everything": _csv(LINES + LINES),
        "one_column": _csv([str(i) for i in range(ROWS)], header="Id"),
        "three_columns": _csv([f"{line},x" for line in LINES], header="Id,Category,Extra"),
        "empty_fields": _csv([",", *LINES[1:]]),
        "only_commas": b",,,,\n" * 50,
        "only_newlines_cr": b"\r" * 1000,
        "whitespace_forest": b" \t " * 3000 + b"\n",
        "mac_line_endings_bad": _csv(LINES[:5], end="\r"),
        "json": b'{"Id": [0, 1], "Category": [0, 3]}\n',
        "sqlite_file": b"SQLite format 3\x00" + b"\x00" * 100,
        "html_page": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n",
    }
    return cases


def special_entries(folder: Path, name: str) -> dict[str, str]:
    """Make ``folder/<case>/name`` for each special case; returns case -> what the message must say."""
    made = {}

    def at(case: str) -> Path:
        (folder / case).mkdir(parents=True, exist_ok=True)
        return folder / case / name

    at("link_to_etc_passwd").symlink_to("/etc/passwd")
    made["link_to_etc_passwd"] = "a symbolic link"
    at("link_to_proc_status").symlink_to("/proc/self/status")
    made["link_to_proc_status"] = "a symbolic link"
    at("link_dangling").symlink_to(folder / "nowhere")
    made["link_dangling"] = "a symbolic link"
    at("link_to_dev_zero").symlink_to("/dev/zero")
    made["link_to_dev_zero"] = "a symbolic link"
    at("link_to_folder").symlink_to(folder)
    made["link_to_folder"] = "a symbolic link"
    at("folder").mkdir()
    made["folder"] = "a folder"
    os.mkfifo(at("fifo"))
    made["fifo"] = "a named pipe (FIFO)"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(at("socket")))
        made["socket"] = "a socket"
    except OSError:                       # path too long for AF_UNIX on some machines: skip that one
        pass
    finally:
        sock.close()
    return made
