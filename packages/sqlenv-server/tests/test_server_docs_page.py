"""/docs is Swagger UI served from the package: no CDN, so it works offline."""

from __future__ import annotations

from server_helpers import TestClient


def test_docs_page_loads_its_assets_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "/docs/assets/swagger-ui-bundle.js" in html and "/docs/assets/swagger-ui.css" in html
    assert "/openapi.json" in html
    assert "cdn." not in html and "https://" not in html
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text
    style = client.get("/docs/assets/swagger-ui.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_unknown_docs_assets_and_redoc_are_not_found(client: TestClient) -> None:
    missing = client.get("/docs/assets/../app.py")
    assert missing.status_code == 404
    unknown = client.get("/docs/assets/evil.js")
    assert unknown.status_code == 404 and "swagger-ui-bundle.js" in unknown.json()["detail"]
    assert client.get("/redoc").status_code == 404  # it would need a CDN
