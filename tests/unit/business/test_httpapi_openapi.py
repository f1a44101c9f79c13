"""business.httpapi.openapi: a valid OpenAPI 3.1 document (openapi-spec-validator) that
says what the API does: each request schema accepts exactly what the call takes."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from business.httpapi.calls import CALLS, BadArgument, bind, to_json
from business.httpapi.errors import STATUS_CODES
from business.httpapi.openapi import answer, arguments, document

CID = "7f0000019f576546405e00000001"
DOC = document("0.1.0")


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    validate(DOC)
    validate(json.loads(to_json(DOC)))  # as served
    broken = copy.deepcopy(DOC)  # the validator is real: a broken document fails
    broken["paths"]["/api/v1/send_to_all"]["post"]["responses"]["200"] = {"content": {}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_call_is_a_post_and_every_error_is_described() -> None:
    calls = {p.removeprefix("/api/v1/") for p in DOC["paths"] if p.startswith("/api/v1/")}
    assert calls == set(CALLS) | {"batch", "openapi.json"}
    for name in CALLS:
        operation = DOC["paths"][f"/api/v1/{name}"]["post"]
        assert operation["operationId"] == name
        assert {"200", "400", "401", "413", "429", "503"} <= set(operation["responses"])
        assert ("504" in operation["responses"]) == (CALLS[name].query and CALLS[name].one)
    error = DOC["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["properties"]["code"]["enum"]) == set(STATUS_CODES)
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["apikey"]["name"] == "Authorization"
    assert DOC["paths"]["/healthz"]["get"]["security"] == []  # probes need no key


SAMPLES: list[Any] = [
    "",
    "0",
    "g",
    0,
    5,
    True,
    None,
    1.5,
    [],
    ["a"],
    [0],
    [CID],
    {},
    {"k": 1},
    CID,
    "x" * 5,
    [CID, "nope"],
    [1, "2"],
]


GOOD = {
    "client_id": CID,
    "message": "m",
    "uid": "u",
    "group": 7,
    "uids": ["u"],
    "groups": "g",
    "session": {"k": 1},
    "client_ids": [CID],
    "exclude": None,
    "timeout": 2,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_request_schema_accepts_exactly_what_the_call_takes(name: str) -> None:
    """Random bodies (each argument present or not, a good value or any sample, now and
    then an unknown one): the schema validates a body exactly when bind() takes it."""
    call = CALLS[name]
    validator = jsonschema.Draft202012Validator(arguments(call))
    names = [a.name for a in call.args] + (["timeout"] if call.query else [])
    rng = random.Random(name)
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        body: dict[str, Any] = {}
        for arg in names:
            if rng.random() < 0.85:
                body[arg] = GOOD[arg] if rng.random() < 0.7 else rng.choice(SAMPLES)
        if rng.random() < 0.05:
            body["other"] = 1
        try:
            bind(call, body)
            taken = True
        except BadArgument:
            taken = False
        assert validator.is_valid(body) == taken, body
        verdicts[taken] += 1
    assert verdicts[False] > 0 and verdicts[True] > 0, verdicts


def test_the_answer_schemas_fit_real_answers() -> None:
    jsonschema.validate({"result": None}, answer(CALLS["send_to_uid"]))
    jsonschema.validate({"result": 1}, answer(CALLS["is_online"]))
    jsonschema.validate({"result": 2, "missing": []}, answer(CALLS["get_all_client_id_count"]))
    jsonschema.validate(
        {"result": {"g": [CID]}, "missing": ["tcp://10.0.0.1:2900"]},
        answer(CALLS["get_all_group_client_id_list"]),
    )
    with pytest.raises(jsonschema.ValidationError):  # "all" answers say what is missing
        jsonschema.validate({"result": 2}, answer(CALLS["get_all_client_id_count"]))
