"""A service for the real nameko (2.14), run by real.test.ts with `nameko run` when NAMEKO_SRC
is set: it calls a Flotilla service, raises, dispatches events, and handles Flotilla's events
with each handler type. Names end in $SUFFIX so runs never collide."""

import json
import os

from nameko.events import BROADCAST, SINGLETON, EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc

SUFFIX = os.environ["SUFFIX"]
ORDERS = "orders_" + SUFFIX


def report(kind, payload, worker_ctx_data=None):
    print(json.dumps({"kind": kind, "data": payload}), flush=True)


class Greeter:
    name = "rgreeter_" + SUFFIX

    dispatch = EventDispatcher()
    orders = RpcProxy(ORDERS)

    @rpc
    def hello(self, name):
        return "Hello, {}!".format(name)

    @rpc
    def fail(self, text):
        raise ValueError(text)

    @rpc
    def greet(self, name):
        self.dispatch("greeted", {"name": name})
        return True

    @rpc
    def place_via_flotilla(self, item):
        return self.orders.place(item=item)

    @rpc
    def fail_via_flotilla(self):
        try:
            self.orders.fail()
        except Exception as exc:
            return {"type": type(exc).__name__, "exc_type": getattr(exc, "exc_type", None),
                    "value": getattr(exc, "value", None)}

    @event_handler(ORDERS, "created")
    def on_created_pool(self, payload):
        report("service_pool", payload)

    @event_handler(ORDERS, "created", handler_type=SINGLETON)
    def on_created_single(self, payload):
        report("singleton", payload)

    @event_handler(ORDERS, "created", handler_type=BROADCAST, reliable_delivery=False)
    def on_created_broadcast(self, payload):
        report("broadcast", payload)
