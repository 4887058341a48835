"""smallsocial's user-facing side: the command line (and, later, the Textual TUI).

It talks to the profile and node through their commands and results; it never
imports libp2p.
"""
