"""A document is parsed and validated once, whatever the variables; its verdict — accepted or
refused — holds for every later request that sends it, and the memo stays bounded."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, ValidationContext, ValidationRule
from strawberry.extensions import AddValidationRules

from relay.graphql.prepared import PreparedDocuments

validations = 0


class CountingRule(ValidationRule):
    """A real validation rule that only counts how often validation runs."""

    def __init__(self, context: ValidationContext) -> None:
        global validations
        validations += 1
        super().__init__(context)


class NoSecrets(ValidationRule):
    def enter_field(self, node: Any, *_: Any) -> None:
        if node.name.value == "secret":
            self.report_error(GraphQLError("no secrets"))


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, text: str) -> str:
        return text

    @strawberry.field
    def secret(self) -> str:
        return "s3cr3t"


def schema(memo: PreparedDocuments) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        extensions=[lambda: AddValidationRules([CountingRule, NoSecrets]), memo.extension()],
    )


async def test_a_document_is_validated_once_for_any_variables() -> None:
    global validations
    validations = 0
    memo = PreparedDocuments()
    run = schema(memo)
    query = "query($t: String!) { echo(text: $t) }"
    first = await run.execute(query, variable_values={"t": "one"})
    second = await run.execute(query, variable_values={"t": "two"})
    assert (first.data, second.data) == ({"echo": "one"}, {"echo": "two"})
    assert validations == 1
    assert query in memo.documents and query in memo.verdicts


async def test_a_refused_document_stays_refused() -> None:
    memo = PreparedDocuments()
    run = schema(memo)
    for _ in range(3):
        result = await run.execute("{ secret }")
        assert result.data is None
        assert result.errors is not None and result.errors[0].message == "no secrets"


async def test_a_document_that_does_not_parse_is_not_kept() -> None:
    memo = PreparedDocuments()
    result = await schema(memo).execute("{ echo(text: ")
    assert result.errors
    assert len(memo.documents) == 0 and len(memo.verdicts) == 0


async def test_the_memo_is_bounded() -> None:
    memo = PreparedDocuments(entries=3)
    run = schema(memo)
    for i in range(10):
        await run.execute(f'{{ echo(text: "{i}") }}')
    assert len(memo.documents) == 3 and len(memo.verdicts) == 3
