"""What every service uses: settings, the gRPC bootstrap, errors, logging, metrics."""
