"""The settings page: `/` and its static files, and the browser's session (`/session`).

The page is plain files shipped in the package. `/?code=...` redeems the one-time code printed
at start for a cookie and sends the browser back to `/`, so the code leaves the address bar.
Without a code the page asks for a session key and posts it to `/session`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from agent_server.bodies import read_json_object
from agent_server.context import context
from agent_server.openapi import Operation, Reply, errors
from agent_server.security.cookies import cookie_scope, issue_cookie, set_cookie_header
from agent_server.security.session_keys import find_key, login_key
from agent_server.web.login import redeem_login_code

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
_FILES = {path.name: path for path in STATIC.iterdir() if path.is_file()}
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


class SessionLogin(BaseModel):
    key: str


class SessionState(BaseModel):
    authenticated: bool
    auth_required: bool
    scope: str | None


def _file(name: str) -> FileResponse:
    path = _FILES[name]
    return FileResponse(
        path, media_type=_TYPES.get(path.suffix), headers={"Cache-Control": "no-cache"}
    )


async def page(request: Request) -> Response:
    code = request.query_params.get("code")
    if code is None:
        return _file("index.html")
    ctx = context(request)
    redirect = RedirectResponse("/", status_code=303)
    if ctx.session_keys and redeem_login_code(ctx.config.home, code):
        cookie = issue_cookie(login_key(ctx.session_keys))
        redirect.headers.append("set-cookie", set_cookie_header(request.scope, cookie))
    return redirect


async def static(request: Request) -> Response:
    name = request.path_params["file"]
    if name not in _FILES:
        raise HTTPException(404, "no such file")
    return _file(name)


async def session_state(request: Request) -> JSONResponse:
    keys = context(request).session_keys
    if keys is None:
        state = SessionState(authenticated=True, auth_required=False, scope="admin")
    else:
        scope = cookie_scope(request.scope, keys)
        state = SessionState(authenticated=scope is not None, auth_required=True, scope=scope)
    return JSONResponse(state.model_dump(), headers={"Cache-Control": "no-store"})


async def log_in(request: Request) -> Response:
    keys = context(request).session_keys
    try:
        body = SessionLogin.model_validate(await read_json_object(request))
    except ValidationError:
        raise HTTPException(400, 'send {"key": "<a session key>"}') from None
    if keys is None:
        return Response(status_code=204)
    key = find_key(keys, body.key)
    if key is None:
        raise HTTPException(401, "that is not a session key of this server")
    response = Response(status_code=204)
    response.headers.append("set-cookie", set_cookie_header(request.scope, issue_cookie(key)))
    return response


async def log_out(request: Request) -> Response:
    response = Response(status_code=204)
    response.headers.append("set-cookie", set_cookie_header(request.scope, "", max_age=0))
    return response


routes = [
    Route("/", page, methods=["GET"]),
    Route("/static/{file}", static, methods=["GET"]),
    Route("/session", session_state, methods=["GET"]),
    Route("/session", log_in, methods=["POST"]),
    Route("/session", log_out, methods=["DELETE"]),
]

_PAGE = ("page",)
_TEXT = {"type": "string"}
operations = {
    ("/", "GET"): Operation(
        operation_id="get_page",
        summary="The settings page",
        description=(
            "HTML. With ?code= (the one-time code printed at start) it sets the page's session "
            "cookie and redirects to / without the code."
        ),
        responses={
            200: Reply(description="The page.", media_types={"text/html": _TEXT}),
            303: Reply(),
        },
        tags=_PAGE,
        secured=False,
    ),
    ("/static/{file}", "GET"): Operation(
        operation_id="get_page_file",
        summary="A static file of the settings page",
        description="The page's scripts and styles, shipped in the package.",
        path_params={"file": "The file's name."},
        responses={
            200: Reply(
                description="The file.",
                media_types={media: _TEXT for media in sorted(set(_TYPES.values()))},
            ),
            **errors(404),
        },
        tags=_PAGE,
        secured=False,
    ),
    ("/session", "GET"): Operation(
        operation_id="get_page_session",
        summary="Whether this browser is logged in, and with which scope",
        description="Reads the page's cookie; never 401.",
        responses={200: Reply(SessionState)},
        tags=_PAGE,
        secured=False,
    ),
    ("/session", "POST"): Operation(
        operation_id="log_in_page",
        summary="Log this browser in with a session key",
        description=(
            "Sets an HttpOnly, SameSite=Strict cookie (named after the server's port) that "
            "stands for the key; the API accepts it from the page's own origin only."
        ),
        request=SessionLogin,
        responses={204: Reply(), **errors(400, 401, 415)},
        tags=_PAGE,
        secured=False,
    ),
    ("/session", "DELETE"): Operation(
        operation_id="log_out_page",
        summary="Log this browser out",
        description="Clears the page's cookie.",
        responses={204: Reply()},
        tags=_PAGE,
        secured=False,
    ),
}
