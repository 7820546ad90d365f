"""Application services: the use cases the routes, the webhooks and the CLI call (one each)."""
