"""The typed IR: frozen Pydantic models, one class per kind, each with its source span."""
