"""The HTTP/JSON gateway: the v2 action API in front of the gRPC services."""
