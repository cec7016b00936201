"""Background workers: many short calls started and let go while others finish (the click tool
starts one per click) end without a crash and deliver every result; a finished worker's thread is
waited for without waiting out the timeout."""

import time

from PySide6.QtCore import QCoreApplication

from istr_app.services.workers import CallWorker, WorkerPool, finish, start


def test_many_overlapping_workers_deliver_every_result_and_are_let_go_safely(qtbot):
    # With the worker deleteLater-ed in its thread while Python dropped its wrapper (pruned on
    # isRunning()), this crashed the process within about 100 calls.
    pool, results = WorkerPool(), []
    for i in range(300):
        worker = CallWorker(lambda i=i: i * i)
        worker.finished.connect(results.append)
        pool.start(worker)
        QCoreApplication.processEvents()  # takes the queued quits and results as they come
    pool.wait(10000)
    qtbot.waitUntil(lambda: len(results) == 300, timeout=10000)
    assert sorted(results) == [i * i for i in range(300)]


def test_finish_ends_a_thread_whose_quit_has_not_arrived(qtbot):
    worker = CallWorker(lambda: None)
    thread = start(worker)
    time.sleep(0.5)  # the call has returned; its quit is queued to this (blocked) thread
    assert finish(thread, 2000) and thread.isFinished()
