"""Benchmarks: what kcp-django adds next to the gateway's own time, measured side by side."""
