"""The compliance service: verdicts on prompts and images under a per-model policy."""
