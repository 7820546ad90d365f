"""Dependency aliases so routes declare what they need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.agent_tokens import AgentClaims
from api.auth import require, token_claims
from api.container import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]
AgentRole = Annotated[str, Depends(require("agent"))]
SupervisorRole = Annotated[str, Depends(require("supervisor"))]
CaseRole = Annotated[str, Depends(require("agent", "supervisor"))]  # the case journey: agents and supervisors
KnowledgeRole = Annotated[str, Depends(require("knowledge"))]
AnyRole = Annotated[str, Depends(require("agent", "supervisor", "knowledge"))]
# The agent token's claims when the request carries one (None for a key): routes scope what a token may touch.
AgentToken = Annotated[AgentClaims | None, Depends(token_claims)]
