"""What a search looks for and what it looks in — the same on SQLite and PostgreSQL.

Text is cut into words (letters and digits), case-folded and stripped of accents here, in Python,
before either database sees it: ``tracks.search_text`` holds the words of the title, the artist
and the album (one line each), and both full-text indexes are built from those words as they are,
so both find the same tracks. A search matches a track when each of its words begins a word of
the track's title, artist or album (``blue mon`` finds "Blue Monday"): prefix matching is what
type-ahead needs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from relay.errors import BadUserInputError

_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # _WORD on case-folded ASCII
MAX_WORD_CHARS = 64
"""Longer words are cut (in the index and in searches alike)."""
MAX_SEARCH_WORDS = 16
MAX_FIELD_WORDS = 24
MAX_FIELD_BYTES = 256
"""A title, artist or album is found by its first words: at most ``MAX_FIELD_WORDS`` of them and
``MAX_FIELD_BYTES`` (UTF-8, with the spaces between). This bounds what a track adds to the
indexes — PostgreSQL keeps each track's words in a B-tree entry too, which has a size limit."""


def words(text: str) -> list[str]:
    """The searchable words of ``text``: case-folded, without accents, at most
    ``MAX_WORD_CHARS`` long."""
    if text.isascii():  # most text: nothing to decompose, case-folding is lower-casing
        return [word[:MAX_WORD_CHARS] for word in _ASCII_WORD.findall(text.lower())]
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return [word[:MAX_WORD_CHARS] for word in _WORD.findall(bare)]


# An ASCII field this short has no word over MAX_WORD_CHARS, at most MAX_FIELD_WORDS words
# (each takes a character and a separator) and fits MAX_FIELD_BYTES: nothing to cut.
_UNCUT_ASCII_CHARS = min(MAX_WORD_CHARS, 2 * MAX_FIELD_WORDS - 1, MAX_FIELD_BYTES)


def search_text(title: str, artist: str, album: str | None) -> str:
    """What ``tracks.search_text`` holds: three lines (title, artist, album) of words."""
    return "\n".join(_line(part) for part in (title, artist, album or ""))


def _line(part: str) -> str:
    if len(part) <= _UNCUT_ASCII_CHARS and part.isascii():  # most fields: a backfill's rows
        return " ".join(_ASCII_WORD.findall(part.lower()))
    return _first_words(words(part))


def _first_words(found: list[str]) -> str:
    line = " ".join(found[:MAX_FIELD_WORDS])
    if len(line.encode()) <= MAX_FIELD_BYTES:
        return line
    kept: list[str] = []
    size = -1
    for word in found[:MAX_FIELD_WORDS]:
        size += 1 + len(word.encode())
        if size > MAX_FIELD_BYTES:
            break
        kept.append(word)
    return " ".join(kept)


@dataclass(frozen=True)
class SearchQuery:
    """A client's search, as words. No words (only punctuation) finds nothing."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str | None) -> SearchQuery | None:
        """None when there is nothing to search for (absent or blank: no filter)."""
        if text is None or not text.strip():
            return None
        found = tuple(dict.fromkeys(words(text)))
        if len(found) > MAX_SEARCH_WORDS:
            raise BadUserInputError(f"a search takes at most {MAX_SEARCH_WORDS} words")
        return cls(found)

    def matches(self, text: str) -> bool:
        """Whether a track whose ``search_text`` is ``text`` is found."""
        if not self.words:
            return False
        have = text.split()
        return all(any(word.startswith(want) for word in have) for want in self.words)

    def fts5(self) -> str:
        """An SQLite FTS5 query: every word, as a prefix (words hold no quotes)."""
        return " AND ".join(f'"{word}"*' for word in self.words)

    def tsquery(self, word: str | None = None) -> str:
        """A PostgreSQL ``tsquery`` literal: every word (or just ``word``), as a prefix."""
        chosen = self.words if word is None else (word,)
        return " & ".join(f"'{item}':*" for item in chosen)
