"""The contract matches the behaviour (issue 13): what OpenAPI declares, the headers and codes
the API sends, and docs/api.md naming every error code the source can emit."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apihelpers import serve
from fastapi import FastAPI

from planexe.settings import Settings
from planexe_api import apidocs
from planexe_api import errors as api_errors
from planexe_api.app import create_app
from planexe_api.schemas import NOT_BLANK_PATTERN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict:
    return create_app(Settings(runner=False)).openapi()


def operations(schema: dict) -> Iterator[tuple[str, str, dict]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_declares_its_errors_with_the_error_body(schema: dict) -> None:
    body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, op in operations(schema):
        responses = op["responses"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == body, (path, method, status)
        declared = set(responses)
        if path not in ("/healthz", "/readyz"):
            assert {"400", "401"} <= declared, (path, method)
        if path not in ("/healthz", "/metrics"):
            assert "503" in declared, (path, method)
        if path.startswith("/plans/{plan_id}"):
            assert "404" in declared, (path, method)
        if method == "post":
            assert {"403", "413", "422"} <= declared, (path, method)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    paths = schema["paths"]
    assert {"400", "409", "429"} <= set(paths["/plans"]["post"]["responses"])
    assert "400" in paths["/plans"]["get"]["responses"]
    assert {"409"} <= set(paths["/plans/{plan_id}/resume"]["post"]["responses"])
    assert {"409", "429"} <= set(paths["/plans/{plan_id}/retry"]["post"]["responses"])
    assert "409" in paths["/plans/{plan_id}/report"]["get"]["responses"]


def test_content_types_are_the_real_ones(schema: dict) -> None:
    paths = schema["paths"]
    events = paths["/plans/{plan_id}/events"]["get"]["responses"]
    assert list(events["200"]["content"]) == ["text/event-stream"]
    assert "content" not in events["204"]
    assert list(paths["/plans/{plan_id}/report"]["get"]["responses"]["200"]["content"]) == ["text/html"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    files = paths["/plans/{plan_id}/files/{name}"]["get"]["responses"]["200"]["content"]
    assert {m.split(";")[0] for m in files} == {
        "application/json",
        "text/html",
        "text/plain",
        "application/octet-stream",
    }


def test_405_keeps_allow_and_head_probes_answer(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: object) -> None:
        refused = await client.delete("/plans")
        assert refused.status_code == 405 and refused.json()["code"] == "method_not_allowed"
        assert set(refused.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
        # The most specific resource decides: /plans/resume also fits /plans/{plan_id}.
        bulk = await client.request("OPTIONS", "/plans/resume")
        assert bulk.status_code == 405 and bulk.headers["allow"] == "POST"
        one = await client.request("PUT", "/plans/0123456789abcdef0123456789abcdef")
        assert one.status_code == 405 and one.headers["allow"] == "GET, DELETE"
        for path in ("/healthz", "/readyz"):
            head = await client.head(path)
            assert (head.status_code, head.content) == (200, b""), path

    serve(app, scenario)


@pytest.mark.parametrize(
    "content",
    [b'{"prompt": "caf\xe9"}', b"\xff\xfe\x00{", b'{"prompt": "x"', b"[1, 2", b"", b"null", b"NaN"],
)
def test_bodies_that_are_not_json_text_are_422_invalid_request(app: FastAPI, content: bytes) -> None:
    async def scenario(client: httpx.AsyncClient, state: object) -> None:
        response = await client.post("/plans", content=content, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "invalid_request" and body["message"].startswith(("body", "prompt")), body

    serve(app, scenario)


# Classes whose instances carry a code of their own (the ApiError family).
_ERROR_CLASSES = {
    name: cls.code
    for name, cls in vars(api_errors).items()
    if isinstance(cls, type) and issubclass(cls, api_errors.ApiError)
}
_CODE_FUNCTIONS = {"error_body", "error_result"}  # their first argument is a code


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def emitted_codes() -> dict[str, str]:
    """Every error code the service's source can send, with where it is: ApiErrors raised (their
    code= or their class's), error bodies built by hand, and ``"code": ...`` in JSON answers."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "planexe_api").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in _ERROR_CLASSES:
                    keyword = next((k.value for k in node.keywords if k.arg == "code"), None)
                    code = _string(keyword) if keyword is not None else _ERROR_CLASSES[name]
                    if code:
                        found.setdefault(code, f"{where}:{node.lineno}")
                elif name in _CODE_FUNCTIONS and node.args and (code := _string(node.args[0])):
                    found.setdefault(code, f"{where}:{node.lineno}")
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _string(key) == "code" and (code := _string(value)):
                        found.setdefault(code, f"{where}:{node.lineno}")
    for code in [*api_errors.HTTP_ERROR_CODES.values(), api_errors.HTTP_ERROR]:
        found.setdefault(code, "planexe_api/errors.py")
    return found


def test_every_code_the_api_can_emit_is_documented() -> None:
    codes = emitted_codes()
    # The scan sees what it should: codes raised through classes, by keyword, and by hand.
    assert {"queue_full", "plan_not_found", "invalid_request", "request_too_large", "schema_outdated"} <= set(
        codes
    )
    documented = set()
    for doc in ("api.md", "mcp.md"):
        documented |= set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / doc).read_text()))
    missing = {code: where for code, where in codes.items() if code not in documented}
    assert missing == {}


def test_the_error_table_lists_each_code_once() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    table = text[text.index("### Error codes") :]
    rows = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M)
    assert len(rows) == len(set(rows))
    api_codes = {c for c, where in emitted_codes().items() if not where.startswith("planexe_api/mcp/")}
    assert api_codes - set(rows) == set()


def test_docs_page_and_its_assets_come_from_the_package(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: object) -> None:
        page = await client.get("/docs")
        assert page.status_code == 200 and page.headers["content-security-policy"] == apidocs.CSP
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for path in assets:
            answer = await client.get(path)
            assert answer.status_code == 200, path
        bundle = await client.get(
            f"/docs/assets/swagger-ui-{apidocs.SWAGGER_UI_VERSION}/swagger-ui-bundle.js"
        )
        assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        assert (await client.get("/redoc")).status_code == 404  # it loaded from a CDN; gone

    serve(app, scenario)


def test_the_schema_says_the_rules_the_handlers_check(schema: dict) -> None:
    # No optional parameter may be JSON null: clients would send the text "null".
    for path, method, op in operations(schema):
        for parameter in op.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (path, method, parameter)
    events = schema["paths"]["/plans/{plan_id}/events"]["get"]
    patterns = {p["name"]: p["schema"].get("pattern") for p in events["parameters"]}
    assert patterns["after"] == patterns["last-event-id"] == r"^\s*[0-9]{0,9}\s*$"
    sse = events["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert sse["required"] == ["id", "event", "data"]  # one event, as an SSE parser sees it
    prompt = schema["components"]["schemas"]["PlanCreate"]["properties"]["prompt"]
    assert (prompt["minLength"], prompt["maxLength"], prompt["pattern"]) == (1, 8000, NOT_BLANK_PATTERN)
    key = next(p for p in schema["paths"]["/plans"]["post"]["parameters"] if p["name"] == "idempotency-key")
    assert key["schema"]["pattern"] == NOT_BLANK_PATTERN and key["schema"]["maxLength"] == 200
    # The pattern says blank as the service's strip() does, in every regex dialect.
    for text, blank in (("\x1e", True), ("\x85 \t", True), ("\ufeff", False), ("a", False)):
        assert (re.search(NOT_BLANK_PATTERN, text) is None) == blank == (not text.strip()), repr(text)
    files = schema["paths"]["/plans/{plan_id}/files/{name}"]["get"]["responses"]["200"]["content"]
    assert files["application/json"]["schema"] == {}  # any JSON: each task's output has its own shape


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"prompt": "Open a bakery", "max_tokens": True}, 422),
        ({"prompt": "Open a bakery", "max_tokens": "5000"}, 422),
        ({"prompt": "Open a bakery", "max_cost": False}, 422),
        ({"prompt": "Open a bakery", "max_tokens": 5000.0}, 202),  # an integer, as JSON Schema counts
        ({"prompt": " " + "x" * 8000}, 422),  # the limit is on what is sent, as the schema says
    ],
)
def test_numbers_are_json_numbers_and_lengths_are_what_was_sent(
    app: FastAPI, body: dict, status: int
) -> None:
    async def scenario(client: httpx.AsyncClient, state: object) -> None:
        response = await client.post("/plans", json=body)
        assert response.status_code == status, response.text
        if status == 422:
            assert response.json()["code"] == "invalid_request"

    serve(app, scenario)
