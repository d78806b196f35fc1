"""Training for the pages, without Streamlit: where models live (this process or worker processes), the handle
a page holds on its model, what comes back per drawn frame, and the pace of play.

    pace.py      PACES: watch (every epoch drawn) ... max (as fast as the machine)
    worker.py    what runs where a model lives: build, advance, call, drop; Frame; the per-process dataset cache
    runners.py   InlineRunner (this process) and WorkerPool (ProcessPoolExecutors, one process each)
    handle.py    ModelHandle: a page's hold on one model; ModelLost when its worker died
    device.py    where the models train (MARGIN_LAB_DEVICE, else the honest auto) and the caption saying why
"""
