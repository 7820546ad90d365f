"""LLM refinement on top of the rules answer: ``orchestration`` runs the parts in parallel within a deadline,
``prompts`` builds what is sent (personal data pseudonymised), ``answers`` says what must come back, and ``checks``
decides whether it may replace the rules part."""

from assist.refine.config import RefineConfig
from assist.refine.orchestration import Done, PartUpdate, Refiner

__all__ = ["Done", "PartUpdate", "RefineConfig", "Refiner"]
