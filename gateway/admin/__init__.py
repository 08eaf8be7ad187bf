"""The operators' admin panel at ``/admin`` and the internal ``KeysService`` over gRPC."""
