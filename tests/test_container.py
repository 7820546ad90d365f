"""api/container.py: what a built container has ready before its first request."""

from __future__ import annotations

import json
from pathlib import Path

from api.container import DEMO_CONVERSATIONS, Container
from assist import language
from assist.models import Conversation
from assist.sarcasm import shipped_model
from kb_index import embeddings
from tests.conftest import make_settings


def test_the_models_are_loaded_when_the_container_is_built_not_by_the_first_assist(tmp_path: Path) -> None:
    # Found by benchmarks/load.py: every web process's first assist spent 0.5-0.7 s reading py3langid's model and
    # 0.25 s laying the sarcasm scorer's encoder over the bundled e5 model (the plain model when it names none).
    scorer_model = embeddings._tuned_model if shipped_model().encoder else embeddings._e5_model
    language._identifier.cache_clear()
    scorer_model.cache_clear()
    container = Container.build(make_settings(tmp_path))
    try:
        assert language._identifier.cache_info().currsize == 1
        assert scorer_model.cache_info().currsize == 1
        loaded = language._identifier.cache_info(), scorer_model.cache_info()
        first = json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))[0]
        conversation = Conversation.model_validate({k: v for k, v in first.items() if k not in ("draft", "title")})
        container.assist.assist(conversation, draft=str(first["draft"]))
        # the first assist (a draft: the tone check) loaded nothing more
        assert (language._identifier.cache_info().misses, scorer_model.cache_info().misses) == (
            loaded[0].misses,
            loaded[1].misses,
        )
    finally:
        container.stop()
