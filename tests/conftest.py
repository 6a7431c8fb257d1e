"""Shared fixtures. Real-server fixtures live in tests/integration/conftest.py."""
