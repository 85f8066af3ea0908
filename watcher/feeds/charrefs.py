"""Numeric character references that name no character, mended before parsing.

XML forbids a reference to a surrogate code point (`&#xD800;`), yet CMSs write an emoji as
the two UTF-16 halves of it (`&#55357;&#56832;` for U+1F600). expat refuses such a document
and feedparser's fallback then fails on the lone surrogate, so one bad reference cost every
entry of the feed. `mend_char_refs` rewrites a high-low pair into the one reference it means
and any other surrogate, NUL or out-of-range reference into U+FFFD: one character lost at
most. JSON Feeds go through `scrub_surrogates` (json reads `"\\ud800"` as a lone surrogate,
which no store or receiver can encode).
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = 0xFFFD
_REF = rb"&#(?:[xX]0*([0-9A-Fa-f]+)|0*([0-9]+));"
_MAX_DIGITS = 8  # longer (after leading zeros) is beyond U+10FFFF in either base
_REFS = re.compile(rb"%s(?:%s)?" % (_REF, _REF))
_SURROGATE = re.compile("[\ud800-\udfff]")


def _code(hex_digits: bytes | None, decimal: bytes | None) -> int:
    """The code point a reference names; -1 when it has too many digits to name one."""
    digits = hex_digits if hex_digits is not None else decimal or b"0"
    if len(digits) > _MAX_DIGITS:
        return -1
    return int(digits, 16) if hex_digits is not None else int(digits)


def _is_valid_xml_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or (
        0xE000 <= code <= 0xFFFD) or 0x10000 <= code <= 0x10FFFF


def _mend(match: re.Match[bytes]) -> bytes:
    first = _code(match.group(1), match.group(2))
    if match.group(3) is None and match.group(4) is None:
        second = None
    else:
        second = _code(match.group(3), match.group(4))
    if second is not None and 0xD800 <= first <= 0xDBFF and 0xDC00 <= second <= 0xDFFF:
        return b"&#x%X;" % (0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    mended = [first if _is_valid_xml_char(first) else REPLACEMENT]
    if second is not None:
        mended.append(second if _is_valid_xml_char(second) else REPLACEMENT)
    if mended == [first] + ([second] if second is not None else []):
        return match.group(0)  # nothing to mend: the document keeps its bytes
    return b"".join(b"&#x%X;" % code for code in mended)


def mend_char_refs(data: bytes) -> bytes:
    """`data` with surrogate pairs written as two references joined into one, and references
    to no character (lone surrogates, NUL, control characters, beyond U+10FFFF) as U+FFFD."""
    if b"&#" not in data:
        return data
    return _REFS.sub(_mend, data)


def scrub_surrogates(value: Any) -> Any:
    """Strings in a parsed JSON value with surrogate pairs joined and lone ones as U+FFFD."""
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [scrub_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    return value
