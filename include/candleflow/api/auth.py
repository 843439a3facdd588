"""Who may read: anyone holding a valid Airflow token, checked by Airflow's own auth manager.

A FastAPI app mounted by a plugin (``fastapi_apps``) is *not* behind Airflow's auth: each
route has to ask. Every data route depends on ``authenticated_user``, which:

1. takes the token from ``Authorization: Bearer <token>`` (API clients, after
   ``POST /auth/token``), else from the ``_token`` cookie. Airflow 3.3's UI keeps its JWT in
   that cookie, set ``HttpOnly`` at login (``COOKIE_NAME_JWT_TOKEN``), and sends it with
   same-origin requests: it does not use localStorage. So the chart page, served by the same
   api-server, is authenticated by the cookie without any JavaScript touching the token;
2. validates it with the configured auth manager's ``get_user_from_token``: signature with
   ``[api_auth] jwt_secret`` (or the configured key/JWKS), audience, issuer, expiry and
   leeway, and the revocation list that Airflow's logout writes to the metadata database;
3. answers 401 with ``WWW-Authenticate: Bearer`` when the token is missing, expired, forged
   or revoked. (Airflow's own API says 403 for a forged token; 401 is the HTTP meaning
   "authenticate again", which is what a client should do.)

Airflow's check blocks the event loop on its revocation lookup (a query to the metadata
database, two round trips with the pool's pre-ping). It stays on the loop, as in Airflow's
own API (the validator may hold an async HTTP client for remote JWKS, bound to this loop),
but a token that passed is remembered for ``CANDLEFLOW_API_REVOCATION_TTL`` seconds
(default 2, 0 = check every request), never past its own expiry: a burst of chart requests
checks its token once, and a token revoked by a logout is refused within that many seconds.

Every route is a GET with no side effects, so accepting the cookie opens no CSRF hole.
Airflow is imported lazily: it is heavy, and ``import candleflow.api`` must stay cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from candleflow import config

log = logging.getLogger(__name__)

REVOCATION_TTL_S = config.number("CANDLEFLOW_API_REVOCATION_TTL", 2.0)
_MAX_REMEMBERED = 10_000
_passed: dict[str, tuple[float, Any]] = {}  # token -> (monotonic deadline, user)
_passed_lock = threading.Lock()
TOKEN_COOKIE = "_token"  # noqa: S105 - a cookie name: Airflow's COOKIE_NAME_JWT_TOKEN
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AirflowJWT",
    description="A JWT from the Airflow api-server's `POST /auth/token` (or the UI's "
    "`_token` cookie).",
)


def auth_manager() -> Any:
    """The api-server's auth manager; outside it (tests, bench) the same configured class."""
    from airflow.api_fastapi.app import create_auth_manager

    return create_auth_manager()


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=f"authorization: {reason}",
        headers={"WWW-Authenticate": "Bearer"},
    )


def request_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token if one was sent (an explicit credential wins), else the cookie."""
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise _unauthorized(
            "missing token; send 'Authorization: Bearer <token>' with a token from the "
            "api-server's POST /auth/token, or log in to the Airflow UI"
        )
    return token


async def authenticated_user(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme),  # noqa: B008
) -> Any:
    """The Airflow user the token belongs to; 401 when there is none or it is not valid."""
    from jwt import ExpiredSignatureError, InvalidTokenError

    token = request_token(request, credentials)
    now = time.monotonic()
    remembered = _passed.get(token)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    try:
        user = await auth_manager().get_user_from_token(token)
    except ExpiredSignatureError:
        raise _unauthorized("token expired; get a new one from POST /auth/token") from None
    except InvalidTokenError as exc:
        log.info("rejected token on %s: %s", request.url.path, exc)
        raise _unauthorized("invalid token") from None
    _remember(token, user, now)
    return user


def _remember(token: str, user: Any, now: float) -> None:
    """Keep a token that passed for the TTL, never beyond its own ``exp``."""
    import jwt

    if REVOCATION_TTL_S <= 0:
        return
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    left = REVOCATION_TTL_S if expires is None else min(REVOCATION_TTL_S, expires - time.time())
    with _passed_lock:
        if len(_passed) >= _MAX_REMEMBERED:
            for key in [k for k, (deadline, _) in _passed.items() if deadline <= now]:
                del _passed[key]
            if len(_passed) >= _MAX_REMEMBERED:
                _passed.clear()
        if left > 0:
            _passed[token] = (now + left, user)
