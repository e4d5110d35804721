"""nameko's own ClusterRpcProxy calling a Flotilla service (real.test.ts, with NAMEKO_SRC):
prints one JSON line with the result of `orders_<suffix>.place` and the RemoteError of
`orders_<suffix>.fail`."""

import json
import sys

from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

config = {"AMQP_URI": sys.argv[1]}
orders = "orders_" + sys.argv[2]
with ClusterRpcProxy(config, context_data={"user_id": "py-user"}) as proxy:
    service = proxy[orders]
    placed = service.place(item="tea")
    try:
        service.fail()
        failed = None
    except RemoteError as exc:
        failed = {"exc_type": exc.exc_type, "value": exc.value}
    print(json.dumps({"placed": placed, "failed": failed}), flush=True)
