"""The storage service: objects and expiring URLs, on local disk or any S3-compatible store."""
