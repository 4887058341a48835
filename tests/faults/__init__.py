"""Fault injection against real member nodes (issue 6): kill -9, partition, disk full, flood."""
