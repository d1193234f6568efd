"""Real Kafka, PostgreSQL and OpenBao on loopback without Docker.

``Devstack(state_dir, ports="auto").up()`` starts the servers (or reuses running ones) and
returns their :class:`Endpoints`; ``down()`` stops what that state dir started.
"""

from kervan_devstack.errors import DevstackError
from kervan_devstack.settings import Ports, default_state_dir
from kervan_devstack.stack import ALL_SERVICES, Devstack, Endpoints, Service, ServiceStatus

__all__ = [
    "ALL_SERVICES",
    "Devstack",
    "DevstackError",
    "Endpoints",
    "Ports",
    "Service",
    "ServiceStatus",
    "default_state_dir",
]
