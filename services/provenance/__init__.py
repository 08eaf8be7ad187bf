"""Provenance service: branding, invisible watermark, encoding, PDQ, C2PA, verification."""
