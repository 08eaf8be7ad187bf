"""imgen: the command line, the Python client, and the generated gRPC stubs (``imgen/<svc>/v1``)."""

__version__ = "0.1.0"
