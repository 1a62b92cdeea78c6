"""Every model answer is checked: JSON, schema, stop reason, silent truncation, invented parameters."""

import json

import pytest

from shared.errors import ContextTooLongError, InvalidOutputError
from shared.messages import StaticFacts
from workers.llm.base import Completion
from workers.llm.validate import validate_completion

FACTS = StaticFacts(signature="def f(a, b)", parameters=["a", "b"])
GOOD = {
    "summary": "Adds two numbers.",
    "inputs": ["a: first", "b: second"],
    "outputs": ["the sum"],
    "side_effects": [],
    "pitfalls": [],
    "usage_snippet": "f(1, 2)",
    "tags": ["math"],
}


def _completion(content: object, *, stop: str = "stop", tokens_in: int = 100) -> Completion:
    text = content if isinstance(content, str) else json.dumps(content)
    return Completion(content=text, tokens_in=tokens_in, tokens_out=20, stop_reason=stop, host="http://h")


def test_a_good_answer_passes() -> None:
    assert validate_completion(_completion(GOOD), FACTS, estimated_tokens_in=100).summary == "Adds two numbers."


@pytest.mark.parametrize(
    ("completion", "error", "match"),
    [
        (_completion("Sure! It adds numbers."), InvalidOutputError, "not JSON"),
        (_completion(""), InvalidOutputError, "not JSON"),
        (_completion({**GOOD, "summary": None}), InvalidOutputError, "schema .*summary"),
        (_completion({**GOOD, "inputs": "a, b", "tags": 3}), InvalidOutputError, "schema .*inputs.*tags"),
        (_completion(GOOD, stop="length"), InvalidOutputError, "length"),
        (_completion({**GOOD, "inputs": ["a", "ghost"]}), InvalidOutputError, "ghost"),
        (_completion(GOOD, tokens_in=30), ContextTooLongError, "silently truncated"),
    ],
)
def test_bad_answers_escalate_with_a_reason(completion: Completion, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        validate_completion(completion, FACTS, estimated_tokens_in=100)


def test_parameters_are_only_checked_where_the_code_has_a_signature() -> None:
    answer = _completion({**GOOD, "inputs": ["config: the settings"]})
    assert validate_completion(answer, StaticFacts(), estimated_tokens_in=100).inputs == ["config: the settings"]
