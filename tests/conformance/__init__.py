"""The conformance suite: FiftyOne's own intensive backend tests (Label Studio,
and the backend-independent scenarios of CVAT's), ported and run against every
backend of this package, with a person in the loop played through each
service's API (see ``drivers.py``).

A package (with this file) so that the Label Studio server it starts is
package-scoped: it stops when these tests are done, before another tier
starts its own server on the same data directory.
"""
