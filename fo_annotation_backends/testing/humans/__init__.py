"""Simulated people for the conformance suite: one :class:`~.base.Human`
per service, working on an annotation run through the service's own API as a
person in its editor would (the registry's ``Service.human``)."""
