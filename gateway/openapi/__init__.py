"""The OpenAPI 3.1 document of the action API and its HTML rendering."""

from gateway.openapi.docs_page import render_docs
from gateway.openapi.document import ACTION_REQUESTS, openapi_document

__all__ = ["ACTION_REQUESTS", "openapi_document", "render_docs"]
