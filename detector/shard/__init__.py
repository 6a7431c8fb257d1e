"""Sharding: which MeshPulse replica watches which service.

Pure rendezvous hashing decides ownership (:mod:`ownership`), leases in the shared state store
decide who is alive (:mod:`leases`), and a metric-source wrapper keeps only owned series
(:mod:`filter`), so the pipeline itself never learns that it is one of several.
"""
