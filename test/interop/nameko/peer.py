"""A nameko 2.x peer written with kombu, for Flotilla's interop tests.

It follows nameko's wire conventions (nameko/rpc.py, nameko/events.py, nameko/messaging.py,
nameko/exceptions.py) without nameko itself, which Debian does not ship:

- the service `greeter_<suffix>` on queue `rpc-greeter_<suffix>` (durable, bound
  `greeter_<suffix>.*` on the topic exchange `nameko-rpc`), replying to `reply_to` on that
  exchange with the request's `correlation_id`;
- handlers of `created` events from `orders_<suffix>` of each handler type: service_pool (two
  instances sharing one queue), singleton, broadcast (two instances, one exclusive queue each);
- a ClusterRpcProxy-style client: a reply queue `rpc.reply-standalone_rpc_proxy-<uuid>`,
  requests published `mandatory` with publisher confirms (NO_ROUTE = UnknownService);
- an event dispatcher to the `<source>.events` exchanges.

Control: one JSON command per line on stdin, one JSON line per answer or observation on stdout.
"""

import json
import queue
import socket
import sys
import threading
import uuid

from kombu import Connection, Consumer, Exchange, Producer, Queue

URL = sys.argv[1]
SUFFIX = sys.argv[2]
GREETER = "greeter_" + SUFFIX
ORDERS = "orders_" + SUFFIX
AUDIT = "audit_" + SUFFIX

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)
PERSISTENT = 2


def out(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def events_exchange(source):
    return Exchange(source + ".events", type="topic", durable=True, delivery_mode=PERSISTENT)


def context_of(message):
    """nameko's HeaderDecoder: `nameko.` stripped from every header."""
    return {
        (k[len("nameko."):] if k.startswith("nameko.") else k): v
        for k, v in (message.headers or {}).items()
    }


def serialize(exc_type, exc_path, args):
    return {"exc_type": exc_type, "exc_path": exc_path,
            "exc_args": list(args), "value": " ".join(str(a) for a in args)}


conn = Connection(URL)
pub_conn = Connection(URL, transport_options={"confirm_publish": True})
producer = Producer(pub_conn.channel())
commands = queue.Queue()
reply_key = str(uuid.uuid4())
pending = {}  # correlation_id -> command id


def publish(body, exchange, routing_key, **kwargs):
    producer.publish(body, exchange=exchange, routing_key=routing_key, serializer="json",
                     delivery_mode=PERSISTENT, retry=True, **kwargs)


# --- the greeter service --------------------------------------------------------------------

class Greeter:
    def hello(self, name):
        return "Hello, {}!".format(name)

    def fail(self, text):
        raise ValueError(text)

    def add(self, a, b):
        return a + b

    def whoami(self):
        return CURRENT["context"]

    def shout(self, source, type, data):
        publish(data, events_exchange(source), type,
                headers={"nameko." + k: v for k, v in CURRENT["context"].items()})
        return True


CURRENT = {"context": {}}


def on_rpc(body, message):
    method = message.delivery_info["routing_key"].split(".")[-1]
    context = context_of(message)
    out(seen="rpc", method=method, context=context)
    result, error = None, None
    fn = getattr(Greeter, method, None)
    if fn is None or method.startswith("_"):
        error = serialize("MethodNotFound", "nameko.exceptions.MethodNotFound", [method])
    elif not isinstance(body, dict) or "args" not in body or "kwargs" not in body:
        error = serialize("MalformedRequest", "nameko.exceptions.MalformedRequest",
                          ["Message missing `args` or `kwargs`"])
    else:
        # nameko's check_signature: a call that does not fit raises IncorrectSignature
        context["call_id_stack"] = list(context.get("call_id_stack", []))[-10:] + [
            "{}.{}.{}".format(GREETER, method, uuid.uuid4())]
        CURRENT["context"] = context
        try:
            import inspect
            inspect.getcallargs(fn, None, *body["args"], **body["kwargs"])
        except TypeError as exc:
            error = serialize("IncorrectSignature", "nameko.exceptions.IncorrectSignature",
                              [str(exc)])
        else:
            try:
                result = fn(Greeter(), *body["args"], **body["kwargs"])
            except Exception as exc:  # as nameko's worker: any exception goes back serialized
                error = serialize(type(exc).__name__,
                                  "{}.{}".format(type(exc).__module__, type(exc).__name__),
                                  exc.args)
                error["value"] = str(exc)
    publish({"result": result, "error": error}, RPC_EXCHANGE, message.properties["reply_to"],
            correlation_id=message.properties.get("correlation_id"))
    message.ack()


# --- handlers of orders' events, one per nameko handler type ---------------------------------

def event_queues():
    exchange = events_exchange(ORDERS)
    base = "evt-{}-created".format(ORDERS)
    pool = Queue(base + "--{}.on_created".format(AUDIT), exchange=exchange,
                 routing_key="created", durable=True)
    single = Queue(base, exchange=exchange, routing_key="created", durable=True)
    found = [("service_pool", "p1", pool), ("service_pool", "p2", pool),
             ("singleton", "s1", single)]
    for instance in ("b1", "b2"):
        found.append(("broadcast", instance, Queue(
            base + "--{}.on_created-{}".format(AUDIT, uuid.uuid4().hex), exchange=exchange,
            routing_key="created", durable=True, auto_delete=True, exclusive=True)))
    return found


def on_event(kind, instance):
    def handle(body, message):
        out(seen="event", kind=kind, instance=instance,
            type=message.delivery_info["routing_key"], data=body, context=context_of(message))
        message.ack()
    return handle


def on_reply(body, message):
    message.ack()
    cid = message.properties.get("correlation_id")
    command_id = pending.pop(cid, None)
    if command_id is None:
        return
    error = body.get("error")
    out(id=command_id, result=body.get("result"), error=error)


# --- commands -------------------------------------------------------------------------------

def run(command):
    cmd = command.get("cmd")
    if cmd == "call":
        cid = str(uuid.uuid4())
        pending[cid] = command["id"]
        headers = {"nameko." + k: v for k, v in command.get("context", {}).items()}
        headers.setdefault("nameko.call_id_stack",
                           ["standalone_rpc_proxy.call.{}".format(uuid.uuid4())])
        body = command.get("raw")
        try:
            if body is not None:  # a hand-made, possibly bad, request
                producer.publish(body.encode("utf-8"), exchange=RPC_EXCHANGE,
                                 routing_key=command["service"] + "." + command["method"],
                                 content_type=command.get("content_type", "application/json"),
                                 content_encoding="utf-8", reply_to=reply_key,
                                 correlation_id=cid, headers=headers, mandatory=True)
            else:
                publish({"args": command.get("args", []), "kwargs": command.get("kwargs", {})},
                        RPC_EXCHANGE, command["service"] + "." + command["method"],
                        mandatory=True, reply_to=reply_key, correlation_id=cid, headers=headers)
        except Exception as exc:
            pending.pop(cid, None)
            if "NO_ROUTE" in str(exc) or "312" in str(exc):
                out(id=command["id"], unknown_service=command["service"])
            else:
                out(id=command["id"], failed=repr(exc))
    elif cmd == "dispatch":
        publish(command["data"], events_exchange(command["source"]), command["type"],
                headers={"nameko." + k: v for k, v in command.get("context", {}).items()})
        out(id=command["id"], dispatched=True)
    elif cmd == "stop":
        raise SystemExit(0)


def read_stdin():
    for line in sys.stdin:
        if line.strip():
            commands.put(json.loads(line))
    commands.put({"cmd": "stop"})


def main():
    channel = conn.channel()
    greeter_queue = Queue("rpc-" + GREETER, exchange=RPC_EXCHANGE,
                          routing_key=GREETER + ".*", durable=True)
    reply_queue = Queue("rpc.reply-standalone_rpc_proxy-" + reply_key, exchange=RPC_EXCHANGE,
                        routing_key=reply_key, exclusive=True, auto_delete=True,
                        queue_arguments={"x-expires": 300000})
    consumers = [Consumer(channel, queues=[greeter_queue], callbacks=[on_rpc], accept=["json"]),
                 Consumer(channel, queues=[reply_queue], callbacks=[on_reply], accept=["json"])]
    for kind, instance, q in event_queues():
        consumers.append(Consumer(conn.channel(), queues=[q], callbacks=[on_event(kind, instance)],
                                  accept=["json"]))
    for consumer in consumers:
        consumer.consume()
    threading.Thread(target=read_stdin, daemon=True).start()
    out(ready=True, reply_queue=reply_queue.name)
    try:
        while True:
            while not commands.empty():
                run(commands.get())
            try:
                conn.drain_events(timeout=0.05)
            except socket.timeout:
                pass
    finally:
        conn.release()
        pub_conn.release()
        with Connection(URL) as admin:  # a fresh connection: the consumers are gone by now
            channel = admin.channel()
            for name in ("rpc-" + GREETER, "evt-{}-created".format(ORDERS),
                         "evt-{}-created--{}.on_created".format(ORDERS, AUDIT)):
                channel.queue_delete(name)
            for name in (GREETER + ".events", ORDERS + ".events"):
                channel.exchange_delete(name)


if __name__ == "__main__":
    main()
