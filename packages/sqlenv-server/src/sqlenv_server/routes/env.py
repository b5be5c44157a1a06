"""The OpenEnv HTTP routes: /health, /metadata, /schema, /reset, /step, /state, plus /close.

Unlike OpenEnv's stateless HTTP routes, episodes over HTTP are real. ``POST /reset`` opens (or
reuses) a session and returns its id three ways: the ``session_id`` field of the response, the
``X-Session-Id`` header and the ``sqlenv_session`` cookie. ``/step``, ``/state`` and ``/close``
take it back the same ways (body field, header, cookie; ``/state`` also as a query parameter).
A ``/step`` without any session id keeps OpenEnv's stateless meaning: it runs on a fresh one-off
episode, and says so in ``metadata``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.wire import (
    SESSION_COOKIE,
    SESSION_HEADER,
    SESSION_ID_MAX_CHARS,
    ResetParams,
    invalid,
    observation_payload,
)
from sqlenv_server.app_info import environment_metadata
from sqlenv_server.cookies import session_cookie
from sqlenv_server.deps import ClientDep, ManagerDep
from sqlenv_server.disconnect import unless_disconnected
from sqlenv_server.sessions import Session, SessionNotFoundError

__all__ = ["SESSION_COOKIE", "SESSION_HEADER", "router"]

router = APIRouter()


class ResetBody(ResetParams):
    """``POST /reset``: OpenEnv's reset request plus ``question_id`` and ``session_id``."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{}, {"seed": 42}, {"question_id": "q1", "session_id": "…"}]}
    )

    session_id: str | None = Field(
        default=None, max_length=SESSION_ID_MAX_CHARS, description="Reset this session instead of opening a new one."
    )


class StepBody(BaseModel):
    """``POST /step``: OpenEnv's step request plus ``session_id``."""

    model_config = ConfigDict(extra="allow")

    action: dict[str, Any] = Field(description="An SQLAction: {'action_type': 'QUERY', 'argument': 'SELECT 1'}.")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Accepted for OpenEnv; the sandbox's own deadline applies."
    )
    request_id: str | None = Field(default=None, max_length=255)
    session_id: str | None = Field(default=None, max_length=SESSION_ID_MAX_CHARS)


class CloseBody(BaseModel):
    """``POST /close``: which session to end."""

    session_id: str | None = Field(default=None, max_length=SESSION_ID_MAX_CHARS)


class EnvResponse(BaseModel):
    """OpenEnv's reset/step response, plus the session it belongs to."""

    observation: dict[str, Any]
    reward: float | None = None
    done: bool = False
    metadata: dict[str, Any] | None = None
    session_id: str | None = Field(default=None, description="Send it back to continue this episode.")


class HealthResponse(BaseModel):
    """``GET /health``."""

    status: str = "healthy"


class MetadataResponse(BaseModel):
    """``GET /metadata`` (OpenEnv's ``EnvironmentMetadata`` fields)."""

    name: str
    description: str
    readme_content: str | None = None
    version: str | None = None
    author: str | None = None
    documentation_url: str | None = None


class SchemaResponse(BaseModel):
    """``GET /schema``: JSON schemas of the action, the observation and the state."""

    action: dict[str, Any]
    observation: dict[str, Any]
    state: dict[str, Any]


class CloseResponse(BaseModel):
    """``POST /close``."""

    session_id: str | None
    closed: bool


def _chosen_session_id(request: Request, explicit: str | None, header: str | None) -> str | None:
    # Never request.cookies: its unquoting is quadratic on Python < 3.11.10 (sqlenv_server.cookies).
    for candidate in (explicit, header, session_cookie(request.headers.get("cookie"))):
        if candidate:
            return candidate[:SESSION_ID_MAX_CHARS]
    return None


def _envelope(observation: SQLObservation, session_id: str | None, **metadata: Any) -> EnvResponse:
    payload = observation_payload(observation)
    merged = {**payload.get("metadata", {}), **metadata}
    return EnvResponse(
        observation=payload["observation"],
        reward=payload["reward"],
        done=payload["done"],
        metadata=merged or None,
        session_id=session_id,
    )


def _remember(response: Response, session_id: str) -> None:
    response.headers[SESSION_HEADER] = session_id
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax")


@router.get("/health", tags=["Health"], summary="Health check")
async def health() -> HealthResponse:
    """``{"status": "healthy"}`` while the server is up."""
    return HealthResponse()


@router.get("/metadata", tags=["Environment Info"], summary="Environment metadata")
async def metadata(request: Request) -> MetadataResponse:
    """Name, description, version and documentation of this environment."""
    return MetadataResponse(**environment_metadata(request.app))


@router.get("/schema", tags=["Schema"], summary="JSON schemas of action, observation and state")
async def schema() -> SchemaResponse:
    """The JSON schemas from ``sqlenv_core.protocol``."""
    return SchemaResponse(
        action=SQLAction.model_json_schema(),
        observation=SQLObservation.model_json_schema(),
        state=SQLState.model_json_schema(),
    )


@router.post(
    "/reset",
    tags=["Environment Control"],
    summary="Start an episode",
    responses={
        422: {"description": "Unknown question_id or invalid body."},
        503: {"description": "CAPACITY_REACHED: too many sessions are open."},
    },
)
async def reset(
    request: Request,
    response: Response,
    manager: ManagerDep,
    client: ClientDep,
    body: Annotated[ResetBody | None, Body()] = None,
    x_session_id: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> EnvResponse:
    """Open a session (or reuse the one named) and start an episode in it."""
    params = body or ResetBody()
    wanted = _chosen_session_id(request, params.session_id, x_session_id)
    session: Session | None = None
    if wanted is not None:
        try:
            session = manager.get(wanted)
        except SessionNotFoundError:
            session = None  # an expired id is no error here: start afresh
    created = session is None
    if session is None:
        session = manager.open("http", client=client)
    opened = session
    try:
        observation = await unless_disconnected(
            request, lambda: manager.reset(opened, seed=params.seed, question_id=params.question_id)
        )
    except BaseException:
        if created:
            await manager.close(session.id)
        raise
    _remember(response, session.id)
    return _envelope(observation, session.id)


@router.post(
    "/step",
    tags=["Environment Control"],
    summary="Take one action",
    responses={
        404: {"description": "SESSION_ERROR: the session was closed or reaped."},
        422: {"description": "The action does not match the action schema."},
        503: {"description": "CAPACITY_REACHED (one-off episode without a session)."},
    },
)
async def step(
    request: Request,
    response: Response,
    body: StepBody,
    manager: ManagerDep,
    client: ClientDep,
    x_session_id: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> EnvResponse:
    """Run one action in the session's episode."""
    try:
        action = SQLAction.model_validate(body.action)
    except ValidationError as exc:
        raise invalid("action", exc) from None
    wanted = _chosen_session_id(request, body.session_id, x_session_id)
    if wanted is None:
        one_off = manager.open("http", client=client)

        async def reset_then_step() -> SQLObservation:
            await manager.reset(one_off)
            return await manager.step(one_off, action)

        try:
            observation = await unless_disconnected(request, reset_then_step)
        finally:
            await manager.close(one_off.id)
        return _envelope(
            observation,
            None,
            session="none given: this step ran on a fresh one-off episode; pass the session_id from /reset "
            f"(body field, {SESSION_HEADER} header or {SESSION_COOKIE} cookie) to continue an episode",
        )
    session = manager.get(wanted)
    observation = await unless_disconnected(request, lambda: manager.step(session, action))
    _remember(response, session.id)
    return _envelope(observation, session.id)


@router.get(
    "/state",
    tags=["State Management"],
    summary="Episode bookkeeping",
    responses={404: {"description": "SESSION_ERROR: the session was closed or reaped."}},
)
async def state(
    request: Request,
    manager: ManagerDep,
    session_id: Annotated[str | None, Query(max_length=SESSION_ID_MAX_CHARS)] = None,
    x_session_id: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> SQLState:
    """The state of the session's episode (an empty state when no session is named).

    Prefer the header or the cookie to the ``session_id`` query parameter, which proxies may log
    (this server's own access log redacts it).
    """
    wanted = _chosen_session_id(request, session_id, x_session_id)
    if wanted is None:
        return SQLState()
    return await manager.state(manager.get(wanted))


@router.post("/close", tags=["Environment Control"], summary="End a session now")
async def close(
    request: Request,
    response: Response,
    manager: ManagerDep,
    body: Annotated[CloseBody | None, Body()] = None,
    x_session_id: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> CloseResponse:
    """Free a session's slot without waiting for the idle timeout."""
    wanted = _chosen_session_id(request, body.session_id if body else None, x_session_id)
    closed = await manager.close(wanted) if wanted else False
    response.delete_cookie(SESSION_COOKIE)
    return CloseResponse(session_id=wanted, closed=closed)
