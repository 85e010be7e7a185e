"""The API key is checked before the app runs, so an anonymous body is never read."""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from docquery.api.body_limits import has_body, route_path, send_problem
from docquery.errors import Unauthenticated
from docquery.wiring import Services

# Every route that needs a principal lives under this prefix (a test walks the route table);
# health, readiness and the docs live outside it.
API_PREFIX = "/v1"
UNAUTHENTICATED_DETAIL = "send an API key in X-API-Key or Authorization: Bearer"


def presented_key(headers: Headers) -> str | None:
    """The key a request presents: X-API-Key, else the token of Authorization: Bearer."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    bearer = token if scheme.lower() == "bearer" and token else None
    return headers.get("x-api-key") or bearer


class AuthGateMiddleware:
    """Resolves the principal of every API request before routing; 401 without one.

    FastAPI reads and parses a JSON body before it runs a route's dependencies, so the route's
    own check would come too late: here the body is still unread when the 401 goes out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        services = state.get("services")
        if scope["type"] != "http" or not _protected(scope) or not isinstance(services, Services):
            # Outside the API, or no lifespan state: the routes' dependency still checks.
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal = services.authenticator.authenticate(presented_key(headers))
        if principal is None:
            error = Unauthenticated(UNAUTHENTICATED_DETAIL)
            await send_problem(error, scope, receive, send, close=has_body(headers))
            return
        # A new dict: the lifespan's state may be one object shared by every request.
        scope["state"] = {**state, "principal": principal}
        await self.app(scope, receive, send)


def _protected(scope: Scope) -> bool:
    path = route_path(scope)
    return path == API_PREFIX or path.startswith(f"{API_PREFIX}/")
