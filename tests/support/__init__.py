"""Test support: a ClickHouse-HTTP-compatible test server over chdb (a fixture, not a product) and its runner."""
