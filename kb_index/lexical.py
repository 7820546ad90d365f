"""BM25 over chunks with per-language analysis (Snowball stemmers for en/it/es/pl and others PyStemmer knows)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import Stemmer

from assist.text import fold

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMERS = {
    "en": "english",
    "it": "italian",
    "es": "spanish",
    "pl": "polish",
    "fr": "french",
    "de": "german",
    "pt": "portuguese",
    "nl": "dutch",
    "ro": "romanian",
    "cs": "czech",
}
_STOP = {
    "en": "the a an and or of to in on for is are was were be been it this that with my your i you we me our at "
    "by from as have has had do does did not no can could would should will just so but if what how when why",
    "it": "il lo la i gli le un una uno e o di a da in con su per tra fra che non mi ti si ci vi è sono ho ha "
    "del della dei delle al alla ai nel nella mio mia suo sua come quando perché ma se",
    "es": "el la los las un una unos unas y o de a en con por para que no me te se nos es son he ha del al "
    "mi su como cuando porque pero si lo le les ya muy",
    "pl": "i w z na do nie się to jest że o od po za co jak mi mnie mój moja moje ale czy a by był była już "
    "tak jest są ten ta te",
}


@cache
def _stemmer(language: str) -> Stemmer.Stemmer | None:
    algo = _STEMMERS.get(language)
    return Stemmer.Stemmer(algo) if algo else None


@cache
def _stopwords(language: str) -> frozenset[str]:
    return frozenset(fold(w) for w in _STOP.get(language, "").split())


# Words repeat across chunks and queries: folding each distinct word once keeps BM25 loading fast.
_fold_word = lru_cache(maxsize=200_000)(fold)


def analyze(text: str, language: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed (in ``language``) and accent-folded tokens."""
    stop = _stopwords(language)
    words = [w for w in _TOKEN.findall(text.lower()) if (len(w) > 1 or w.isdigit()) and _fold_word(w) not in stop]
    stem = _stemmer(language)
    return [_fold_word(s) for s in (stem.stemWords(words) if stem else words)]


@dataclass
class LexicalHit:
    index: int
    score: float


# Lucene's BM25, as bm25s scored it before (``method="lucene"``): the same parameters and the same formulas.
K1 = 1.5
B = 0.75
_EMPTY = "_"  # an analysed text with no token counts as one token of its own (as bm25s was given it)


class LexicalIndex:
    """BM25 over chunk texts, in slots: ``search``'s ``LexicalHit.index`` is the text's slot.

    Scores are computed when searching, from integer statistics (document frequencies, lengths, their total), so a
    changed index (``changed``: texts removed and added) scores exactly as one built from scratch over the same
    texts: the statistics are the same integers. An instance never changes (a serving snapshot may hold it while the
    next one is built); removed texts leave dead slots, which ``changed`` compacts once they outnumber the live ones.
    """

    def __init__(self, texts: Sequence[str], languages: Sequence[str]) -> None:
        corpus = [Counter(analyze(t, lang) or [_EMPTY]) for t, lang in zip(texts, languages, strict=True)]
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = _postings(corpus, first_slot=0)
        self._lengths = np.array([sum(c.values()) for c in corpus], dtype=np.int64)
        self._alive = np.ones(len(corpus), dtype=bool)
        self._total = int(self._lengths.sum())

    @property
    def size(self) -> int:
        """How many texts are indexed (live slots)."""
        return int(np.count_nonzero(self._alive))

    @property
    def slots(self) -> int:
        """How many slots there are, dead ones included: arrays indexed by slot have this length."""
        return len(self._alive)

    def changed(
        self, *, removed: Sequence[int], texts: Sequence[str], languages: Sequence[str]
    ) -> tuple[LexicalIndex, np.ndarray, np.ndarray]:
        """A new index without the slots ``removed`` and with ``texts`` added (this one is left as it is).

        Returns it, the slot of each added text, and where each of this index's slots went (``-1``: removed).
        Slots are compacted (renumbered, in the same order) once dead ones outnumber the live ones.
        """
        corpus = [Counter(analyze(t, lang) or [_EMPTY]) for t, lang in zip(texts, languages, strict=True)]
        new = object.__new__(LexicalIndex)
        alive = self._alive.copy()
        alive[np.asarray(removed, dtype=np.int64)] = False
        new._alive, new._lengths, new._postings = alive, self._lengths, self._postings
        new._total = int(self._lengths[alive].sum())
        moved = np.where(alive, np.arange(len(alive)), -1)
        if np.count_nonzero(~alive) > np.count_nonzero(alive):
            new, moved = new._compacted()
        first = len(new._alive)
        lengths = np.array([sum(c.values()) for c in corpus], dtype=np.int64)
        added = _postings(corpus, first_slot=first)
        postings = dict(new._postings)
        for term, (slots, tfs) in added.items():
            old = postings.get(term)
            postings[term] = (
                (slots, tfs) if old is None else (np.concatenate([old[0], slots]), np.concatenate([old[1], tfs]))
            )
        new._postings = postings
        new._lengths = np.concatenate([new._lengths, lengths])
        new._alive = np.concatenate([new._alive, np.ones(len(corpus), dtype=bool)])
        new._total += int(lengths.sum())
        return new, np.arange(first, first + len(corpus)), moved

    def _compacted(self) -> tuple[LexicalIndex, np.ndarray]:
        """This index with its dead slots dropped, and where each old slot went (``-1``: dropped)."""
        moved = np.where(self._alive, np.cumsum(self._alive) - 1, -1)
        new = object.__new__(LexicalIndex)
        new._postings = {}
        for term, (slots, tfs) in self._postings.items():
            keep = self._alive[slots]
            if keep.any():
                new._postings[term] = (moved[slots[keep]], tfs[keep])
        new._lengths, new._alive, new._total = self._lengths[self._alive], np.ones(self.size, dtype=bool), self._total
        return new, moved

    def scores(self, query: str, *, language: str) -> np.ndarray:
        """Each slot's BM25 score for ``query`` (0 for a dead slot or one sharing no word with it)."""
        scores = np.zeros(len(self._alive), dtype=np.float64)
        n = self.size
        if not n:
            return scores
        avg = self._total / n
        for token in analyze(query, language):  # a word said twice counts twice, as it did with bm25s
            found = self._postings.get(token)
            if found is None:
                continue
            slots, tfs = found
            live = self._alive[slots]
            df = int(np.count_nonzero(live))
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            slots, tfs = slots[live], tfs[live]
            scores[slots] += idf * tfs / (tfs + K1 * (1 - B + B * self._lengths[slots] / avg))
        return scores

    def search(
        self,
        query: str,
        *,
        language: str,
        k: int,
        mask: np.ndarray | None = None,
        order: np.ndarray | None = None,
    ) -> list[LexicalHit]:
        """The ``k`` best slots for ``query`` with a score above 0, best first. ``mask``: slots allowed (by slot);
        ``order``: each slot's rank among equal scores (default: the slot itself), so that ties fall the same way
        whatever slot a text has."""
        scores = self.scores(query, language=language)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        found = np.flatnonzero(scores > 0)
        ties = found if order is None else order[found]
        top = found[np.lexsort((ties, -scores[found]))][:k]
        return [LexicalHit(int(i), float(scores[i])) for i in top]


def _postings(corpus: Sequence[Counter[str]], *, first_slot: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each term's slots (ascending) and counts in them; ``corpus[i]`` is slot ``first_slot + i``."""
    lists: dict[str, tuple[list[int], list[int]]] = {}
    for i, counts in enumerate(corpus, start=first_slot):
        for term, tf in counts.items():
            slots, tfs = lists.setdefault(term, ([], []))
            slots.append(i)
            tfs.append(tf)
    return {
        term: (np.array(slots, dtype=np.int64), np.array(tfs, dtype=np.float64)) for term, (slots, tfs) in lists.items()
    }
