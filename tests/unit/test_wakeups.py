"""Which wake-ups of kafka-python's I/O thread the gate passes on (gateway.publish.wakeups): a
record must still leave within linger of its send. Against the real producer:
tests/integration/test_publish.py."""

from __future__ import annotations

from typing import Any

from gateway.publish.wakeups import WakeGate, install

LINGER = 0.002


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate() -> tuple[WakeGate, Clock, list[str]]:
    clock = Clock()
    return WakeGate(LINGER, clock), clock, []


def test_a_thread_asleep_past_the_new_batchs_linger_is_woken() -> None:
    g, _, woken = gate()
    g.sleeping(5_000)  # nothing lingering: it would sleep 5 s
    g.wake(lambda: woken.append("wake"))
    assert woken == ["wake"]


def test_a_thread_due_within_linger_is_left_asleep() -> None:
    g, clock, woken = gate()
    g.sleeping(1.5)  # an older batch lingers: it wakes in 1.5 ms and drains the new one too
    clock.now += 0.001
    g.wake(lambda: woken.append("wake"))
    assert woken == []
    assert g.until == 100.0015


def test_exactly_at_linger_is_in_time_and_just_past_it_is_not() -> None:
    g, _, woken = gate()
    g.sleeping(LINGER * 1000)
    g.wake(lambda: woken.append("at"))
    g.sleeping(LINGER * 1000 + 0.5)
    g.wake(lambda: woken.append("past"))
    assert woken == ["past"]


def test_a_wake_up_while_awake_shortens_the_next_sleep_to_linger_once() -> None:
    g, _, woken = gate()
    g.sleeping(5_000)
    g.awake()
    g.wake(lambda: woken.append("wake"))  # it may have checked the partitions already
    assert woken == []
    assert g.sleeping(5_000) == LINGER * 1000
    g.awake()
    assert g.sleeping(5_000) == 5_000  # the shortening is spent
    assert g.sleeping(0.5) == 0.5  # never longer than asked


class FakeClient:
    def __init__(self) -> None:
        self.polls: list[tuple[Any, Any]] = []
        self.while_asleep: Any = None  # what another thread does during the next poll

    def poll(self, timeout_ms: Any = None, future: Any = None) -> str:
        self.polls.append((timeout_ms, future))
        if self.while_asleep is not None:
            self.while_asleep()
            self.while_asleep = None
        return "polled"


class FakeSender:
    def __init__(self) -> None:
        self._client = FakeClient()
        self.wakeups = 0

    def wakeup(self) -> None:
        self.wakeups += 1


class FakeProducer:
    def __init__(self) -> None:
        self._sender = FakeSender()


def test_installed_between_the_producers_sends_and_its_io_threads_sleep() -> None:
    producer = FakeProducer()
    sender, client = producer._sender, producer._sender._client
    installed = install(producer, 2)
    assert installed is not None

    sender.wakeup()  # awake (not in poll): not passed on ...
    assert sender.wakeups == 0
    assert client.poll(timeout_ms=300_000) == "polled"
    assert client.polls[-1] == (2, None)  # ... its next sleep lasts at most linger instead
    assert installed.until is None  # awake again after the poll

    client.while_asleep = sender.wakeup  # a record opens a batch while it sleeps 5 minutes
    client.poll(timeout_ms=300_000)
    assert sender.wakeups == 1

    future = object()  # a poll awaiting a future is not the thread's sleep between passes
    client.poll(timeout_ms=1000, future=future)
    assert client.polls[-1] == (1000, future)


def test_a_producer_built_otherwise_is_left_as_it_is() -> None:
    producer = FakeProducer()
    del producer._sender._client
    wakeup = producer._sender.wakeup
    assert install(producer, 2) is None
    assert producer._sender.wakeup == wakeup
