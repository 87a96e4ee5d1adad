#!/usr/bin/env python3
"""Row "wake-up": how soon a waiting long-poll hears of a message, against the send itself.

One agent holds `GET /messages/stream`; another sends it a message. Per round, from the
send's start: when the sender has its 200 (the baseline: a durable send's round trip) and
when the waiting poll has the message. The medians and their ratio, and the median of each
round's wake-up after the sender's 200 (`after_send_ms`): the message is delivered only once
durable, so that is how long a waiter lags the send's own answer.

    bench/wake.py target/release/agentx
"""

import http.client
import json
import statistics
import sys
import threading
import time

from agentx_bench import Server, emit, progress, smoke


def connection(server):
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)


def main(binary):
    rounds = 10 if smoke() else 300
    with Server(binary) as server:
        (a_id, a_key), (b_id, b_key) = server.connected_pair()
        sender, poller = connection(server), connection(server)
        body = json.dumps({"to_agent_id": b_id, "content": "wake up"})
        sends, wakes = [], []
        progress(f"{rounds} rounds of a send to a waiting long-poll")
        for _ in range(rounds):
            heard = {}

            def poll():
                poller.request("GET", "/messages/stream?timeout=30",
                               headers={"Authorization": f"Bearer {b_key}"})
                answer = poller.getresponse()
                heard["at"] = time.monotonic()
                heard["count"] = json.loads(answer.read())["count"]

            waiter = threading.Thread(target=poll)
            waiter.start()
            time.sleep(0.02)  # the poll is waiting on the server by now
            began = time.monotonic()
            sender.request("POST", "/messages", body=body, headers={
                "Authorization": f"Bearer {a_key}", "Content-Type": "application/json"})
            answer = sender.getresponse()
            answer.read()
            sent = time.monotonic()
            waiter.join()
            if answer.status != 200 or heard.get("count") != 1:
                raise RuntimeError(f"send {answer.status}, poll heard {heard}")
            sends.append((sent - began) * 1e3)
            wakes.append((heard["at"] - began) * 1e3)
    send, wake = statistics.median(sends), statistics.median(wakes)
    after = statistics.median(w - s for s, w in zip(sends, wakes))
    emit({"rounds": rounds, "send_ms": round(send, 3), "wake_ms": round(wake, 3),
          "ratio": round(wake / send, 3), "after_send_ms": round(after, 3)})


if __name__ == "__main__":
    main(sys.argv[1])
