"""The HTTP gateway: the JSON API under /api/ (with its OpenAPI document), the gallery's pages, pictures of
vectors, token metadata and the live feed of rare finds. FastAPI on uvicorn. Like the gRPC servicers, each route
only translates: it decodes the request, calls the domain, encodes the reply; errors map once (errors.py)."""
