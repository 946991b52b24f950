"""The API documentation page (``/schema``), usable without internet: Swagger UI 5 (it renders OpenAPI 3.1) from
the ``swagger-ui-py`` package's files, served under ``/schema/static/`` by the service itself, and no inline
script (the page's own start-up is ``fund/web/static/api-docs.js``), so that the page keeps a strict CSP.

Only the package's asset folder is read (found without importing the package, which knows other frameworks).
"""

from __future__ import annotations

import html
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

ASSETS_PATH = "/schema/static"
_OWN = Path(__file__).resolve().parent.parent / "web" / "static"


@cache
def swagger_ui_folder() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package (Swagger UI's files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# name under /schema/static/ → (file, media type)
def _assets() -> dict[str, tuple[Path, str]]:
    folder = swagger_ui_folder()
    return {
        "swagger-ui-bundle.js": (folder / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        "swagger-ui.css": (folder / "swagger-ui.css", "text/css; charset=utf-8"),
        "api-docs.js": (_OWN / "api-docs.js", "text/javascript; charset=utf-8"),
        "favicon.svg": (_OWN / "favicon.svg", "image/svg+xml"),
    }


@cache
def _read(name: str) -> tuple[bytes, str]:
    assets = _assets()
    if name not in assets:
        raise NotFoundException
    path, media_type = assets[name]
    return path.read_bytes(), media_type


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def api_docs_asset(name: FromPath[str]) -> Response[bytes]:
    content, media_type = _read(name)
    return Response(content, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI from this service's own files, started by a script file rather than an inline one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            favicon=f'<link rel="icon" href="{ASSETS_PATH}/favicon.svg" type="image/svg+xml">',
            **kwargs,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        config = request.app.openapi_config
        spec = html.escape(f"{config.path if config else '/schema'}/openapi.json")
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
{self.favicon}
<link rel="stylesheet" href="{self.css_url}">
<script src="{self.js_url}" defer></script>
<script src="{ASSETS_PATH}/api-docs.js" defer></script>
</head>
<body>
<main id="swagger-ui" data-spec="{spec}"></main>
</body>
</html>
"""
        return page.encode()
