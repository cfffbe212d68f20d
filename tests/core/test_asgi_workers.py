"""The REST API handler's worker threads (apps/core/asgi_http.py `Workers`): a call's result or
exception reaches the awaiting task, calls run on the workers, never more at once than there
are workers, and a task that stops waiting leaves the workers serving."""

import asyncio
import threading
import time

import pytest

from apps.core.asgi_http import Workers


def test_results_and_exceptions_come_back_from_worker_threads():
    workers = Workers(2)

    def where(n):
        return n, threading.current_thread().name

    def fails():
        raise LookupError("no such row")

    async def main():
        loop_thread = threading.current_thread().name
        n, thread = await workers.run(where, 7)
        with pytest.raises(LookupError, match="no such row"):
            await workers.run(fails)
        return loop_thread, n, thread

    loop_thread, n, thread = asyncio.run(main())
    assert n == 7 and thread.startswith("http_") and thread != loop_thread


def test_never_more_calls_at_once_than_workers_and_all_are_answered():
    workers = Workers(3)
    running, peak, lock = [0], [0], threading.Lock()

    def work(n):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return n * n

    async def main():
        return await asyncio.gather(*(workers.run(work, n) for n in range(12)))

    assert asyncio.run(main()) == [n * n for n in range(12)]
    assert peak[0] == 3


def test_a_task_that_stops_waiting_leaves_the_call_to_finish_and_the_workers_serving():
    workers = Workers(1)
    finished = threading.Event()

    def slow():
        time.sleep(0.1)
        finished.set()
        return "late"

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(workers.run(slow), timeout=0.01)  # cancels the waiting
        return await workers.run(lambda: "next")

    assert asyncio.run(main()) == "next"
    assert finished.is_set()


def test_at_least_one_worker_is_needed():
    with pytest.raises(ValueError, match="At least one worker thread"):
        Workers(0)


def test_work_after_the_response_runs_once_the_answer_is_handed_back(caplog):
    from apps.core.after_response import after_response

    workers = Workers(1)
    answered, later = threading.Event(), []

    def respond():
        after_response(lambda: later.append(answered.wait(5)))  # waits for the answer
        after_response(lambda: 1 / 0)  # logged, and the next deferred call still runs
        after_response(lambda: later.append("last"))
        return "answer"

    async def main():
        answer = await workers.run(respond)
        answered.set()
        return answer

    assert asyncio.run(main()) == "answer"
    for _ in range(100):
        if len(later) == 2:
            break
        time.sleep(0.02)
    assert later == [True, "last"]  # ran after the answer reached the awaiting task
    assert "work after a response failed" in caplog.text and "ZeroDivisionError" in caplog.text

    async def again():  # the worker keeps serving, and defers nothing left over
        return await workers.run(lambda: "next")

    assert asyncio.run(again()) == "next" and later == [True, "last"]


def test_outside_a_serving_thread_work_after_the_response_runs_at_once():
    from apps.core.after_response import after_response

    done = []
    after_response(lambda: done.append(1))
    assert done == [1]
    with pytest.raises(ZeroDivisionError):
        after_response(lambda: 1 / 0)


def test_the_responses_close_runs_first_and_no_deferred_call_can_stop_the_worker(caplog):
    from apps.core.after_response import after_response

    workers = Workers(1)
    order = []

    def respond():
        after_response(lambda: order.append("send"))
        after_response(lambda: (_ for _ in ()).throw(SystemExit(3)))  # even this is logged
        after_response(lambda: order.append("close"), first=True)
        return "answer"

    async def main():
        first = await workers.run(respond)
        second = await asyncio.wait_for(workers.run(lambda: "still serving"), 5)
        return first, second

    assert asyncio.run(main()) == ("answer", "still serving")
    assert order == ["close", "send"]
    assert "work after a response failed" in caplog.text and "SystemExit" in caplog.text
