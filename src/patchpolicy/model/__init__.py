"""Typed, frozen models of every document kind (pydantic at the boundary, msgspec at scale)."""
