"""moto_server with S3's conditional writes made atomic, for the integration tests.

moto checks `If-Match` / `If-None-Match` and then stores the object as two separate steps, and its server runs each
request on its own thread: two concurrent conditional PUTs of one key can both pass the check. Real S3 decides a
conditional write atomically, and the relay's shared state in S3 (delete-guard windows, entry claims, echo records)
relies on that. This launcher runs moto's own server with one change: a conditional write (a request carrying
If-Match or If-None-Match that is not a read) runs under one lock, so the check and the store happen as one step.
Everything else is moto as `moto_server` runs it. Usage: python3 moto-atomic.py -H 127.0.0.1 -p PORT
"""

import sys
import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_READS = {"GET", "HEAD", "OPTIONS"}
_conditional_write = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _atomic_conditional_writes(self, environ, start_response):
    conditional = "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
    if conditional and environ.get("REQUEST_METHOD", "GET") not in _READS:
        with _conditional_write:
            # The whole response is produced under the lock: moto builds it while handling the request.
            return list(_dispatch(self, environ, start_response))
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _atomic_conditional_writes

if __name__ == "__main__":
    server.main(sys.argv[1:])
