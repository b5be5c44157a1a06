"""Non-finite numbers are spelled one way everywhere, and every payload is strict, encodable JSON.

Issue 9 item 7: a WebSocket reply to ``SELECT 1e999`` carried ``Infinity`` (not JSON: the
playground's ``JSON.parse`` rejects it) while HTTP sent ``null`` for the same cell and the text
table said ``inf``; a lone surrogate in an argument made the reply unencodable. Now the text
table, the structured rows and JSON all say ``Infinity`` / ``-Infinity`` / ``NaN``, and the
verifier reads those words back as the numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlenv_core import SQLAction, SQLEnvironment, SQLObservation
from sqlenv_core.datasets import Dataset
from sqlenv_core.verifier import GoldResult, verify
from sqlenv_core.wire import (
    ErrorCode,
    WireError,
    error_frame,
    observation_frame,
    observation_from_frame,
    observation_payload,
    state_frame,
)


def strict_json(value: Any) -> str:
    """What any strict JSON encoder would write (no NaN/Infinity literals), as UTF-8."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates
    return text


def test_a_query_returning_infinity_says_so_the_same_way_in_text_rows_and_json(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(SQLAction(action_type="QUERY", argument="SELECT 1e999 AS big, -1e999 AS small, 1.5 AS x"))
    assert obs.error == ""
    assert obs.rows == [["Infinity", "-Infinity", 1.5]]
    assert "Infinity | -Infinity | 1.5" in obs.result
    payload = observation_payload(obs)
    assert json.loads(strict_json(payload))["observation"]["rows"] == [["Infinity", "-Infinity", 1.5]]
    back = observation_from_frame(json.loads(strict_json(observation_frame(obs))))
    assert back.rows == obs.rows and back.result == obs.result


def test_sample_shows_non_finite_values_as_words(tmp_path: Any) -> None:
    import sqlite3

    from sqlenv_core.datasets import Question

    db = tmp_path / "n.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x REAL)")
    conn.executemany("INSERT INTO t VALUES (?)", [(math.inf,), (-math.inf,), (2.5,)])
    conn.commit()
    conn.close()
    dataset = Dataset("n", [Question("n1", "n", "Largest x?", "SELECT max(x) FROM t")], {"n": db})
    env = SQLEnvironment(dataset)
    env.reset(question_id="n1")
    obs = env.step(SQLAction(action_type="SAMPLE", argument="t"))
    assert obs.rows == [["Infinity"], ["-Infinity"], [2.5]]
    strict_json(observation_payload(obs))
    # The agent copies what it saw, and it is right.
    final = env.step(SQLAction(action_type="ANSWER", argument=str(obs.rows[0][0])))
    assert final.info["verdict"]["correct"], final.info["verdict"]


def test_a_hand_built_observation_is_made_json_safe_too() -> None:
    obs = SQLObservation(
        result="text \ud800 with a lone surrogate",
        columns=["a\udfff"],
        rows=[[math.nan, math.inf, "ok", None, 3]],
        action_history=["QUERY SELECT '\ud83d'"],
        error="bad \udc00",
        reward=0.5,
        info={"x": -math.inf, "nested": [{"y": math.nan, "z": "\ud800"}]},
        metadata={"m": math.inf},
    )
    payload = observation_payload(obs)
    decoded = json.loads(strict_json(payload))
    inner = decoded["observation"]
    assert inner["rows"] == [["NaN", "Infinity", "ok", None, 3]]
    assert inner["result"] == "text \ufffd with a lone surrogate"
    assert inner["columns"] == ["a\ufffd"] and inner["error"] == "bad \ufffd"
    assert inner["action_history"] == ["QUERY SELECT '\ufffd'"]
    assert inner["info"] == {"x": "-Infinity", "nested": [{"y": "NaN", "z": "\ufffd"}]}
    assert decoded["metadata"] == {"m": "Infinity"} and decoded["reward"] == 0.5
    # A valid surrogate pair (an emoji held as two code points) is joined, not replaced.
    assert observation_payload(SQLObservation(result="\ud83d\ude00"))["observation"]["result"] == "😀"
    # The observation itself is left as it was.
    assert math.isnan(obs.rows[0][0])  # type: ignore[arg-type]


def test_error_and_state_frames_are_json_safe_whatever_they_echo() -> None:
    strict_json(WireError(ErrorCode.VALIDATION_ERROR, "bad \ud800", input="\udfff", limit=math.inf).frame())
    strict_json(error_frame(ErrorCode.INVALID_JSON, "x", errors=[{"input": math.nan}]))
    from sqlenv_core.protocol import SQLState

    strict_json(state_frame(SQLState(question_id="q\ud800", total_reward=0.25)))


def test_infinity_is_read_back_as_a_number_in_every_spelling() -> None:
    gold = GoldResult(["big"], [(math.inf,)])
    for answer in ("Infinity", "inf", "+Infinity", "[Infinity]", '["Infinity"]', "1e999"):
        assert verify(answer, gold).correct, answer
    assert not verify("-Infinity", gold).correct
    assert verify("-inf", GoldResult(["small"], [(-math.inf,)])).correct
    assert not verify("NaN", gold).correct
