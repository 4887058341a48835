"""Suite-wide settings, applied at import so every subprocess a test starts inherits them.

``SMALLSOCIAL_DISCOVERY=off``: nodes listen on 127.0.0.1 and nothing multicasts or
maps ports. Only the lab tests (``tests/netlab``) turn it on, inside their namespaces.
"""

from __future__ import annotations

import os

from protocol.node.reach import ENV

os.environ[ENV] = "off"
