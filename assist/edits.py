"""Edits of a draft: choosing among overlapping ones and splicing them in, keeping sentences capitalised and spaced."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Edit", "chosen_edits", "conflict", "deletion_span", "position", "splice"]

_AFTER_DELETION = re.compile(r"[ \t]*(,?)[ \t]*")
SENTENCE_OPENERS = ".!?…\n¡¿"
SEPARATORS = " \t,"


@dataclass(frozen=True)
class Edit:
    """Replace ``start:end`` of the draft with ``text`` (an insertion when start == end)."""

    start: int
    end: int
    text: str
    priority: int = 3
    seq: int = 0
    capitalize_next: bool = False


def chosen_edits(edits: Iterable[Edit], text: str) -> list[Edit]:
    """The edits to apply, sorted: on overlap the higher priority (then the longer) edit wins.

    A deletion that only overlaps in the comma or spaces it takes along still applies, without them.
    """
    accepted: list[Edit] = []
    for edit in sorted(set(edits), key=lambda e: (-e.priority, e.start - e.end, e.start, e.seq)):
        for candidate in (edit, _core(edit, text)):
            if not any(conflict(candidate, other) for other in accepted):
                accepted.append(candidate)
                break
    return sorted(accepted, key=position)


def deletion_span(text: str, start: int, end: int, *, floor: int = 0) -> tuple[int, int]:
    """What deleting ``text[start:end]`` removes: the marker with the comma and spaces that go with it.

    "Obviously, it shipped" loses "Obviously, "; "It shipped, obviously." loses ", obviously"; "It, as I
    said, shipped" loses ", as I said,". A comma before ``floor`` (the greeting's) is never taken.
    """
    after = _AFTER_DELETION.match(text, end)
    stop, comma_after = (after.end(), bool(after[1])) if after else (end, False)
    comma = text.rfind(",", floor, start)
    comma_before = comma >= 0 and not text[comma + 1 : start].strip(" \t")
    closes = stop >= len(text) or text[stop] in ".!?;:)"
    if comma_before and (closes or comma_after):
        return comma, end if closes else stop
    return start, end if closes else stop


def _core(edit: Edit, text: str) -> Edit:
    if edit.text:
        return edit
    start, end = edit.start, edit.end
    while start < end and text[start] in SEPARATORS:
        start += 1
    while end > start and text[end - 1] in SEPARATORS:
        end -= 1
    return Edit(start, end, "", edit.priority, edit.seq, edit.capitalize_next)


def position(edit: Edit) -> tuple[int, int, int]:
    """Sort key putting edits in text order (insertions at one point in ``seq`` order)."""
    return edit.start, edit.end, edit.seq


def conflict(a: Edit, b: Edit) -> bool:
    """Whether two edits touch the same characters (insertions only clash with a span around them)."""
    if a.start == a.end and b.start == b.end:
        return False
    if a.start == a.end:
        return b.start < a.start < b.end
    if b.start == b.end:
        return a.start < b.start < a.end
    return a.start < b.end and b.start < a.end


def splice(text: str, edits: Sequence[Edit]) -> str:
    """``text`` with ``edits`` (sorted, non-overlapping) applied, keeping sentences capitalised and spaced."""
    out, pos, cap = "", 0, False
    for edit in edits:
        out, cap = _emit(out, text[pos : edit.start], cap)
        replacement, opens = edit.text, _opens_sentence(out)
        if not replacement:
            out, replacement = _join(out, text[edit.end : edit.end + 1])
            cap = cap or opens
        elif opens:
            replacement = replacement[0].upper() + replacement[1:]
        out, cap = _emit(out, replacement, cap)
        cap = cap or edit.capitalize_next or replacement.rstrip()[-1:] in (".", "!", "?")
        pos = edit.end
    return _emit(out, text[pos:], cap)[0]


def _emit(out: str, piece: str, cap: bool) -> tuple[str, bool]:
    stripped = piece.lstrip()
    if not cap or not stripped:
        return out + piece, cap
    i = len(piece) - len(stripped)
    return out + piece[:i] + piece[i].upper() + piece[i + 1 :], False


def _join(out: str, following: str) -> tuple[str, str]:
    if out[-1:].isalnum() and following.isalnum():
        return out, " "
    if out[-1:] in (" ", "\t") and (not following or following in " \t,.;:!?"):
        return out.rstrip(" \t"), ""
    return out, ""


def _opens_sentence(out: str) -> bool:
    before = out.rstrip(" \t")
    return not before or before[-1] in SENTENCE_OPENERS
