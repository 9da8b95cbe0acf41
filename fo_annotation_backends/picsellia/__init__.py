"""The Picsellia backend (Picsellia's REST API, and servers that speak it).

Work in progress: the REST client (:class:`PicselliaClient`) exists; the
backend is registered once its upload and download are complete.
"""

from .client import PicselliaClient

__all__ = ["PicselliaClient"]
