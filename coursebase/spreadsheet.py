"""One rule for every CSV a person may open in a spreadsheet: cells are never formulas (pure).

OWASP's CSV-injection rule: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return is evaluated by Excel, LibreOffice and Google Sheets
(``=HYPERLINK(...)``, ``@SUM(...)``, ``+1+2``). :func:`spreadsheet_cell` puts a single
quote in front of such a cell, which spreadsheets show as text; a plain number
(``-0.5``) is left alone. Python's ``csv`` module and pandas read the cell back as
the quoted text, so a reader that wants the original strips one leading ``'``.
"""
from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def spreadsheet_cell(value) -> str:
    """``value`` as text a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def spreadsheet_row(values) -> list[str]:
    return [spreadsheet_cell(v) for v in values]
