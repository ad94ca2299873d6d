from __future__ import annotations


def of_type(net, kind):
    """The submodules of ``net`` that are ``kind``, in registration order."""
    return [m for m in net.modules() if isinstance(m, kind)]
