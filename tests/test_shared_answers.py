"""A read RPC's answer is handed out again only while it is made from the very same objects
(core/show.py's SharedAnswers), and a door keeps the bytes it wrote of an answer only for that
very answer object (doors/edges.py's Written)."""

from __future__ import annotations

from showrunner.v1 import show_service_pb2 as pb

from service.core.show import SharedAnswers
from service.doors.edges import Written


def test_an_answer_is_shared_only_while_its_sources_are_the_same_objects() -> None:
    answers: SharedAnswers[pb.GetRoomResponse] = SharedAnswers()
    room, record = ["room as LiveKit said"], ["record"]
    kept = answers.keep("show", (room, record), pb.GetRoomResponse(room=pb.Room(name="show")))
    assert answers.get("show", (room, record)) is kept
    assert answers.get("show", (list(room), record)) is None  # equal, but not the same object
    assert answers.get("show", (room, ["record"])) is None
    assert answers.get("other", (room, record)) is None


def test_shared_answers_stay_bounded() -> None:
    answers: SharedAnswers[str] = SharedAnswers(keep=3)
    sources = [(object(),) for _ in range(4)]
    for n, source in enumerate(sources):
        answers.keep(f"room-{n}", source, f"answer-{n}")
    assert answers.get("room-3", sources[3]) == "answer-3"
    assert all(answers.get(f"room-{n}", sources[n]) is None for n in range(3))  # forgotten at once


def test_a_door_writes_each_answer_object_once() -> None:
    written: list[pb.GetRoomResponse] = []

    def write(answer: pb.GetRoomResponse) -> bytes:
        written.append(answer)
        return answer.SerializeToString()

    bytes_of = Written(write, keep=2)
    first = pb.GetRoomResponse(room=pb.Room(name="show", raised_hands=1))
    assert bytes_of(first) == bytes_of(first) == first.SerializeToString()
    assert written == [first]
    again = pb.GetRoomResponse(room=pb.Room(name="show", raised_hands=2))
    assert bytes_of(again) == again.SerializeToString() and written == [first, again]
    equal = pb.GetRoomResponse(room=pb.Room(name="show", raised_hands=2))
    bytes_of(equal)  # an equal but new answer is written anew: only identity is trusted
    assert len(written) == 3
    bytes_of(first)  # the oldest went when the third was kept
    assert len(written) == 4
