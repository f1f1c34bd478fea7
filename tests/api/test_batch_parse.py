"""What a batch body may say, decided in-process: the batch's own shape is a 400, an item's
fault names its index, and the hash an Idempotency-Key is checked against covers every item."""

from __future__ import annotations

import orjson
import pytest

from services.api.batch import MAX_BATCH, ItemError, batch_hash, parse_batch
from shared.errors import ActionDataError, ValidationError
from shared.names import Priority

GOOD = {"action": "sum", "data": {"numbers": [1]}}


def body(payload: object) -> bytes:
    return orjson.dumps(payload)


def test_a_good_batch() -> None:
    tasks = parse_batch(body({"tasks": [GOOD, {**GOOD, "priority": "high"}, {"action": "x"}]}))
    assert [t.priority for t in tasks] == [Priority.NORMAL, Priority.HIGH, Priority.NORMAL]
    assert tasks[2].data == {}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "invalid JSON"),
        (body([GOOD]), "JSON object"),
        (body({"tasks": [GOOD], "more": 1}), "unknown field: more"),
        (body({"tasks": GOOD}), "list of 1 to 1000"),
        (body({"tasks": []}), "list of 1 to 1000"),
        (body({"tasks": [GOOD] * (MAX_BATCH + 1)}), "list of 1 to 1000"),
    ],
)
def test_the_batch_itself_is_refused(raw: bytes, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        parse_batch(raw)


@pytest.mark.parametrize(
    ("item", "kind", "field"),
    [
        ({"data": {}}, ValidationError, "action"),
        ({**GOOD, "priority": "urgent"}, ValidationError, "priority"),
        ({**GOOD, "priority": 1}, ValidationError, "priority"),
        ({"action": "sum", "data": {"numbers": "1"}}, ActionDataError, "data.numbers"),
        ("sum", ValidationError, None),
    ],
)
def test_an_item_is_named_by_its_index(item: object, kind: type, field: str | None) -> None:
    with pytest.raises(ItemError) as refused:
        parse_batch(body({"tasks": [GOOD, GOOD, item, GOOD]}))
    assert refused.value.index == 2
    assert type(refused.value.error) is kind
    assert refused.value.error.field == field


def test_the_hash_covers_every_item_and_its_priority() -> None:
    one = parse_batch(body({"tasks": [GOOD, GOOD]}))
    same = parse_batch(body({"tasks": [{"data": {"numbers": [1]}, "action": "sum"}, GOOD]}))
    high = parse_batch(body({"tasks": [GOOD, {**GOOD, "priority": "high"}]}))
    shorter = parse_batch(body({"tasks": [GOOD]}))
    assert batch_hash(one) == batch_hash(same)
    assert len({batch_hash(one), batch_hash(high), batch_hash(shorter)}) == 3


def test_an_item_may_be_delayed_and_a_bad_delay_names_its_index() -> None:
    later, now = parse_batch(body({"tasks": [{**GOOD, "delay_s": 30}, GOOD]}))
    assert later.timing.run_at is not None and now.timing.run_at is None
    with pytest.raises(ItemError) as refused:
        parse_batch(body({"tasks": [GOOD, {**GOOD, "delay_s": 31 * 86400}]}))
    assert refused.value.index == 1 and refused.value.error.field == "delay_s"
    with pytest.raises(ItemError) as too_long:
        parse_batch(body({"tasks": [{**GOOD, "timeout_s": 100}]}), timeout_limit_s=60)
    assert too_long.value.error.field == "timeout_s"
