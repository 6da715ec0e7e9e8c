"""The benchmark harness: the real server under load, against a bare-Starlette and a disk floor.

Run it with `make bench` (or `.venv/bin/python -m bench [--quick]`); see bench/README.md.
"""
