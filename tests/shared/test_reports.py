"""The wire format between consumers and the database's owner."""

from __future__ import annotations

import pytest

from shared.broker import RANK_SPAN, delivery_rank
from shared.errors import InvalidMessageError
from shared.reports import Op, Report, decode_reports, encode_reports


def test_reports_round_trip_with_a_claims_rank() -> None:
    reports = [
        Report(Op.CLAIM, "t1", "tok", rank=RANK_SPAN + 2),
        Report(Op.COMPLETE, "t1", "tok", result={"output": "X"}),
        Report(Op.PING),
    ]
    assert decode_reports(encode_reports(reports)) == reports


@pytest.mark.parametrize("rank", [-1, "3", 1.5, True])
def test_a_rank_that_is_not_a_whole_number_is_refused(rank: object) -> None:
    body = b'[{"op": "claim", "id": "t1", "token": "tok", "rank": %s}]' % (
        repr(rank).lower().replace("'", '"').encode()
    )
    with pytest.raises(InvalidMessageError):
        decode_reports(body)


def test_delivery_rank_orders_retries_above_returns() -> None:
    assert delivery_rank(None) == delivery_rank({}) == 0
    assert delivery_rank({"x-delivery-count": 3}) == 3
    assert delivery_rank({"x-taskq-attempt": 1}) > delivery_rank({"x-delivery-count": 10_000})
    # nonsense headers rank as a first delivery rather than failing the delivery
    assert delivery_rank({"x-taskq-attempt": "2", "x-delivery-count": -1}) == 0
