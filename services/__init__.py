"""The five gRPC services of imgen and what they share."""
