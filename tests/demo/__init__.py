"""Tests of ``smallsocial demo``."""
