"""A closed-loop HTTP load generator for servers perf_analyzer cannot speak to (infinity-emb's /classify).

`concurrency` clients each send one text per request and send the next as soon as the answer
arrives. The same generator drives Triton's KServe v2 HTTP endpoint, so the pair is compared
under identical load. After a warm-up it counts `requests` answers; latencies are per request.
"""

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Callable

import aiohttp
import numpy as np


@dataclass
class Target:
    """Where to POST and how a text becomes a JSON body."""

    url: str
    body: Callable[[str], dict]


def triton(http_url: str, model: str) -> Target:
    """A pipeline's ensemble (`model` is the pipeline's name) over the KServe v2 HTTP endpoint."""
    return Target(
        f"{http_url}/v2/models/{model}/infer",
        lambda text: {"inputs": [{"name": "TEXT", "shape": [1, 1], "datatype": "BYTES", "data": [text]}]},
    )


def infinity(http_url: str) -> Target:
    return Target(f"{http_url}/classify", lambda text: {"input": [text]})


async def _measure(target: Target, texts: list[str], concurrency: int, warmup: int, requests: int) -> dict:
    """`requests` completions are counted after the warmup-th one, while every client keeps
    sending, so the load stays at `concurrency` throughout the window."""
    order = itertools.cycle(texts)
    completions: list[tuple[float, float, bool]] = []  # (finished at, latency ms, ok)
    enough = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not enough.is_set():
            begin = time.perf_counter()
            try:
                async with session.post(target.url, json=target.body(next(order))) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            end = time.perf_counter()
            completions.append((end, (end - begin) * 1000, ok))
            if len(completions) > warmup + requests:
                enough.set()

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:
        clients = [asyncio.create_task(client(session)) for _ in range(concurrency)]
        await enough.wait()
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    window = completions[warmup : warmup + requests + 1]
    latencies = [latency for _, latency, _ in window[1:]]
    return {
        "concurrency": concurrency,
        "throughput": (len(window) - 1) / (window[-1][0] - window[0][0]),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p90_ms": float(np.percentile(latencies, 90)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "failed": sum(not ok for _, _, ok in window[1:]),
        "stable": True,
    }


def run(target: Target, texts: list[str], concurrency: int, requests: int) -> dict:
    """One measurement: a warm-up of 2 × concurrency requests, then max(requests, 3 × concurrency) counted."""
    return asyncio.run(_measure(target, texts, concurrency, 2 * concurrency, max(requests, 3 * concurrency)))
