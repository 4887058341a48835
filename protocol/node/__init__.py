"""The IO layer: the local store, the profile on disk, and (later) the libp2p node.

Importing this package imports nothing heavy; the libp2p host lives in its own
modules so offline commands stay fast.
"""
