"""BM25 over chunks with per-language analysis (Snowball stemmers for en/it/es/pl and others PyStemmer knows)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import bm25s
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


class LexicalIndex:
    """An immutable BM25 index over a list of chunk texts; rebuild to change it (it is cheap: ~1 s per 10k chunks)."""

    def __init__(self, texts: Sequence[str], languages: Sequence[str]) -> None:
        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        if self.size:
            corpus = [analyze(t, lang) or ["_"] for t, lang in zip(texts, languages, strict=True)]
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, *, language: str, k: int, mask: np.ndarray | None = None) -> list[LexicalHit]:
        tokens = analyze(query, language)
        if not self.size or not tokens:
            return []
        vocab = self._bm25.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[:k]
        return [LexicalHit(int(i), float(scores[i])) for i in top if scores[i] > 0]
