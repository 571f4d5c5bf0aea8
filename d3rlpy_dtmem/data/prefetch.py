"""A background thread that prepares the next mini-batches while the model trains.

numpy's gathers and casts release the GIL, and so do torch's kernels, so sampling the next
batch overlaps with the update of the current one. Batches come out in the order they were
made; an error in the producer is raised by the next :meth:`Prefetcher.get`.
"""

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["Prefetcher", "iterate_ahead"]

T = TypeVar("T")

_POLL_S = 0.1


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[T]):
    """Calls ``produce`` in a daemon thread and keeps up to ``depth`` results ready.

    Args:
        produce: makes one item; called only from the prefetch thread.
        depth: items kept ready (>= 1).
    """

    def __init__(self, produce: Callable[[], T], depth: int):
        if depth < 1:
            raise ValueError(f"Prefetcher: depth must be >= 1, got {depth}")
        self._produce = produce
        self._queue: queue.Queue[T | _Failure] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dtmem-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: "T | _Failure") -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._put(self._produce())
        except BaseException as error:  # handed to the consumer
            self._put(_Failure(error))

    def get(self) -> T:
        """The next item (waits for it); re-raises an error of the producer."""
        item = self._queue.get()
        if isinstance(item, _Failure):
            self._queue.put(item)  # every later call fails the same way
            raise item.error
        return item

    def close(self) -> None:
        """Stops the thread and drops the items made in advance."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()


def iterate_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of ``items``, made up to ``depth`` ahead in a background thread; an error
    while making one is raised where it would have been consumed."""
    iterator = iter(items)
    prefetcher: Prefetcher[T] = Prefetcher(lambda: next(iterator), depth)
    try:
        while True:
            try:
                item = prefetcher.get()
            except StopIteration:
                return
            yield item
    finally:
        prefetcher.close()
