"""``GET /web``: the playground page, and ``GET /docs``: Swagger UI, both from package data.

Nothing is fetched from the internet: the playground is plain HTML/JS/CSS with no build step,
and Swagger UI's script and stylesheet are shipped in ``static/swagger`` (FastAPI's default
``/docs`` loads them from a CDN and shows a blank page offline).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse

__all__ = ["router"]

router = APIRouter(tags=["Playground"])

_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}


def _read(name: str) -> bytes:
    return (resources.files("sqlenv_server") / "static" / name).read_bytes()


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """Browsers (and the HF Space frame) land on the playground."""
    return RedirectResponse("/web")


@router.get("/web", summary="Playground page", response_class=Response)
async def playground() -> Response:
    """Play an episode in the browser over ``/ws``."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8")


@router.get("/web/{asset}", summary="Playground assets", response_class=Response)
async def playground_asset(asset: str) -> Response:
    """The playground's script and stylesheet."""
    media_type = _ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(404, detail=f"no playground asset {asset!r}; the page needs {', '.join(_ASSETS)}")
    return Response(_read(asset), media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    """FastAPI's Swagger UI page, with its script and stylesheet served from this package."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


@router.get("/docs/oauth2-redirect", include_in_schema=False)
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (kept for parity with FastAPI's default docs)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/docs/assets/{asset}", include_in_schema=False)
async def swagger_ui_asset(asset: str) -> Response:
    """Swagger UI's script and stylesheet (swagger-ui-dist, shipped in ``static/swagger``)."""
    media_type = _DOCS_ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(404, detail=f"no docs asset {asset!r}; the page needs {', '.join(_DOCS_ASSETS)}")
    return Response(
        _read(f"swagger/{asset}"), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
