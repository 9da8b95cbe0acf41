"""Secrets are redacted from text, logs and this package's errors."""

import logging
import uuid

import pytest

from fo_annotation_backends.core import errors
from fo_annotation_backends.core.secrets import get_logger, redact, register_secret


@pytest.fixture
def secret():
    """A fresh registered secret (the registry is process-wide)."""
    value = "sk-%s" % uuid.uuid4().hex
    register_secret(value)
    return value


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(self.format(record))


@pytest.fixture
def package_logger():
    logger = get_logger("fo_annotation_backends.tests.%s" % uuid.uuid4().hex[:8])
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, handler
    logger.removeHandler(handler)


def test_registered_secret_is_replaced_everywhere(secret):
    text = "key=%s; again %s; glued%sglued" % (secret, secret, secret)
    assert redact(text) == "key=***; again ***; glued***glued"


def test_unregistered_text_is_unchanged():
    assert redact("nothing secret here") == "nothing secret here"
    assert redact("") == ""
    assert redact(None) is None


def test_short_or_empty_values_are_not_registered():
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact("abc abcd") == "abc abcd"


def test_longer_secret_is_redacted_whole_when_it_contains_a_shorter_one(secret):
    longer = secret + "-extended"
    register_secret(longer)
    assert redact("x %s y" % longer) == "x *** y"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Token xyz123", "Authorization: Token ***"),
        ("authorization: bearer eyJhbGciOi.abc.def", "authorization: bearer ***"),
        ("Authorization: Bearer xyz", "Authorization: Bearer ***"),
        ("{'Authorization': 'Token abcdef'}", "{'Authorization': 'Token ***'}"),
        ('{"Authorization": "Bearer abc.def"}', '{"Authorization": "Bearer ***"}'),
        ("X-Api-Key: k123456", "X-Api-Key: ***"),
        ("headers: Authorization=Basic dXNlcjpwYXNz, next", "headers: Authorization=Basic ***, next"),
    ],
)
def test_authorization_header_values_are_redacted_unregistered(text, expected):
    assert redact(text) == expected


def test_logger_emits_redacted_messages(package_logger, secret):
    logger, handler = package_logger
    logger.warning("connecting with %s to %s", secret, "http://host")
    logger.info("sent Authorization: Token %s", "unregistered-tok")
    logger.debug("plain message %d", 3)

    assert handler.messages == [
        "connecting with *** to http://host",
        "sent Authorization: Token ***",
        "plain message 3",
    ]


def test_logger_redacts_for_handlers_up_the_hierarchy(caplog, secret):
    logger = get_logger("fo_annotation_backends.tests.caplog")
    with caplog.at_level(logging.INFO):
        logger.info("api key is %s", secret)
    assert secret not in caplog.text
    assert "api key is ***" in caplog.text


def test_get_logger_installs_a_single_filter():
    name = "fo_annotation_backends.tests.once"
    get_logger(name)
    logger = get_logger(name)
    assert len(logger.filters) == 1


@pytest.mark.parametrize(
    "error_cls",
    [
        errors.AnnotationBackendError,
        errors.SchemaError,
        errors.MediaError,
        errors.AuthenticationError,
        errors.ServiceUnavailableError,
        errors.ServiceError,
        errors.OutcomeUnknownError,
    ],
)
def test_error_messages_are_redacted(error_cls, secret):
    error = error_cls("request with %s failed; Authorization: Bearer abc.def" % secret)
    assert secret not in str(error)
    assert "abc.def" not in str(error)
    assert str(error) == "request with *** failed; Authorization: Bearer ***"
    assert isinstance(error, errors.AnnotationBackendError)


def test_service_error_keeps_its_details(secret):
    error = errors.ServiceError("bad %s" % secret, status_code=400, method="POST", path="/api/x")
    assert str(error) == "bad ***"
    assert (error.status_code, error.method, error.path) == (400, "POST", "/api/x")


def test_schema_and_media_errors_are_value_errors():
    assert issubclass(errors.SchemaError, ValueError)
    assert issubclass(errors.MediaError, ValueError)


def test_logged_tracebacks_are_redacted(caplog, secret):
    logger = get_logger("fo_annotation_backends.tests.traceback")
    with caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError("third-party error quoting the key %s" % secret)
        except RuntimeError:
            logger.exception("upload failed")
    assert "upload failed" in caplog.text
    assert "third-party error quoting the key ***" in caplog.text
    assert secret not in caplog.text
