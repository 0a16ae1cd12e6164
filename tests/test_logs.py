"""No full phone number reaches a log line, whatever the component forgot."""

import logging

import pytest

from kernel.logs import MaskingFilter, mask_msisdn

pytestmark = pytest.mark.no_store


@pytest.mark.parametrize(
    ("number", "masked"),
    [("0912345678", "091****678"), ("+84912345678", "+84******678"), ("12345", "*****")],
)
def test_mask_keeps_only_the_ends(number: str, masked: str) -> None:
    assert mask_msisdn(number) == masked


def _filtered(message: str, *args: object) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    MaskingFilter().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sms from 0912345678 stored", "sms from 091****678 stored"),
        ("sender 84912345678: reply queued", "sender 849*****678: reply queued"),
        ("to +84912345678.", "to +84******678."),
        ("legacy 01626123456 seen", "legacy 016*****456 seen"),
        ("call 1732890000.1 from -", "call 1732890000.1 from -"),
        ("code 000.00.18.H26-241129-0001", "code 000.00.18.H26-241129-0001"),
        ("keyed 2411290001#", "keyed 2411290001#"),
    ],
)
def test_filter_masks_phone_numbers_and_nothing_else(line: str, expected: str) -> None:
    assert _filtered(line) == expected


def test_filter_masks_numbers_passed_as_arguments() -> None:
    assert _filtered("sms from %s", "0987654321") == "sms from 098****321"
