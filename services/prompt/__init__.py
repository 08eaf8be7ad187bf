"""The prompt service: catalog, prompt parsing and construction, optimization, random prompts."""
