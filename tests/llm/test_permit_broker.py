"""The runner's permit broker over its real Unix socket: ranks, cancellation, and a killed holder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from planexe.llm.permits.broker import PermitBroker
from planexe.llm.permits.client import BrokerPermits
from planexe.llm.permits.gate import Outcome
from planexe.llm.permits.limits import ProviderLimits
from planexe.llm.permits.types import PermitRequest, Report
from planexe.testing.llm_server import child_env

ONE_AT_A_TIME = ProviderLimits(max_in_flight=1)
RANKS = {"older": (0.0, 1.0), "newer": (0.0, 2.0), "urgent": (-5.0, 3.0)}


class Running:
    def __init__(self, broker: PermitBroker, loop: asyncio.AbstractEventLoop) -> None:
        self.broker = broker
        self.loop = loop

    def snapshot(self) -> dict[str, dict[str, object]]:
        return asyncio.run_coroutine_threadsafe(self._snapshot(), self.loop).result(5)

    async def _snapshot(self) -> dict[str, dict[str, object]]:
        return self.broker.snapshot()

    def settled(self, timeout_s: float = 10.0) -> dict[str, object]:
        """The one gate's figures once nothing is in flight or waiting: a release is a message the
        broker reads after the client has moved on, so a snapshot taken at once can miss it."""
        deadline = time.monotonic() + timeout_s
        while True:
            (gate,) = self.snapshot().values()
            if (gate["in_flight"], gate["waiting"]) == (0, 0) or time.monotonic() > deadline:
                return gate
            time.sleep(0.01)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Running]:
    """A broker on its own event loop in a thread, as it runs on the runner's loop."""
    loop = asyncio.new_event_loop()
    broker = PermitBroker(tmp_path / "b.sock", rank_of=lambda plan: RANKS.get(plan, (0.0, 9.0)))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(5)
    yield Running(broker, loop)
    asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def request(slack: int = 0, since: float = 0.0) -> PermitRequest:
    return PermitRequest("k", ONE_AT_A_TIME, slack=slack, since=since)


def test_plans_are_served_by_rank_and_a_plans_critical_calls_first(broker: Running) -> None:
    async def scenario() -> list[str]:
        clients = {name: BrokerPermits(broker.broker.path, name) for name in ("older", "newer", "urgent")}
        held = await clients["newer"].acquire(request())
        order: list[str] = []

        async def ask(name: str, slack: int, since: float) -> None:
            permit = await clients[name].acquire(request(slack, since))
            order.append(f"{name}/{slack}")
            await clients[name].release(permit, Report(Outcome.OK))

        # Queued while the one permit is held, in the worst order for the rules.
        tasks = []
        for name, slack, since in [
            ("newer", 0, 1.0),
            ("older", 3, 2.0),
            ("older", 0, 3.0),
            ("urgent", 9, 4.0),
        ]:
            tasks.append(asyncio.create_task(ask(name, slack, since)))
            await asyncio.sleep(0.05)
        await clients["newer"].release(held, Report(Outcome.OK))
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for client in clients.values():
            client.close()
        return order

    # A plan with a higher priority first; then the older plan, its critical call before its slack.
    assert asyncio.run(scenario()) == ["urgent/9", "older/0", "older/3", "newer/0"]


def test_a_waiter_that_gives_up_is_withdrawn(broker: Running) -> None:
    async def scenario() -> None:
        client = BrokerPermits(broker.broker.path, "older")
        held = await client.acquire(request())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.acquire(request()), 0.2)
        await client.release(held, Report(Outcome.OK))
        again = await asyncio.wait_for(client.acquire(request()), 5)  # not granted to the one that left
        await client.release(again, Report(Outcome.OK))
        client.close()

    asyncio.run(scenario())
    gate = broker.settled()
    assert (gate["in_flight"], gate["waiting"], gate["granted"]) == (0, 0, 2)


HOLDER = """
import asyncio, sys, time
from planexe.llm.permits.client import BrokerPermits
from planexe.llm.permits.limits import ProviderLimits
from planexe.llm.permits.types import PermitRequest

async def main():
    client = BrokerPermits(sys.argv[1], "holder")
    await client.acquire(PermitRequest("k", ProviderLimits(max_in_flight=1)))
    print("held", flush=True)
    time.sleep(120)

asyncio.run(main())
"""


def test_a_pipeline_killed_while_holding_a_permit_gives_it_back_at_once(broker: Running) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(broker.broker.path)],
        stdout=subprocess.PIPE,
        env=child_env(),
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"

        async def blocked_then_granted() -> None:
            client = BrokerPermits(broker.broker.path, "older")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.acquire(request()), 0.2)
            os.kill(holder.pid, signal.SIGKILL)
            permit = await asyncio.wait_for(client.acquire(request()), 10)
            await client.release(permit, Report(Outcome.OK))
            client.close()

        asyncio.run(blocked_then_granted())
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    assert broker.settled()["in_flight"] == 0  # the killed holder's permit did not leak


def test_calls_fall_back_to_their_own_limits_when_no_broker_listens(tmp_path: Path) -> None:
    async def scenario() -> None:
        client = BrokerPermits(tmp_path / "nobody.sock", "p")
        permit = await asyncio.wait_for(client.acquire(request()), 5)
        await client.release(permit, Report(Outcome.OK))

    asyncio.run(scenario())
