"""The HTTP side of autocoder: what FastAPIEndpoint and MetricsEndpoint are made of.

One idea per module:

- ``server``: binding the socket and serving with uvicorn inside the runtime's event loop;
- ``discovery``: asking bound stores which collections they serve (``describe``);
- ``routes``: the FastAPI application (collections, actions, probes) and its error handlers;
- ``inputs``: reading a request: JSON bodies within limits, list parameters, ``If-Match``;
- ``status``: from a store's reply to a status code, headers and an orjson body;
- ``auth``: API keys and tenants;
- ``middleware``: request ids, the key check, metrics by route template, the last-resort 500;
- ``openapi``: OpenAPI models of a collection's fields;
- ``health``: the system's health and readiness, shared by both endpoints.
"""
