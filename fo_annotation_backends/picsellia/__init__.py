"""The Picsellia backend (Picsellia's REST API, and servers that speak it).

Work in progress (issue 12): the REST client (:class:`PicselliaClient`), the
version plan (:class:`PicselliaInterface`) and the shape conversions exist;
the backend is registered once its upload and download are complete.
"""

from .client import PicselliaClient
from .interface import PicselliaInterface

__all__ = ["PicselliaClient", "PicselliaInterface"]
