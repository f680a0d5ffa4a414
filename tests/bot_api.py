"""A Bot API server on 127.0.0.1 for the tests (unit, integration and the VM guest's failure
matrix): sendMessage, with failures on demand.

Real HTTP over a real socket: ts-alert's requests session, timeouts and retries all run for real;
only Telegram itself is replaced, as it cannot be reached from here.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "123456:TEST-token-not-real"


class BotServer:
    """`script` is a list of what to answer next, one entry per request; then 200 OK.

    Entries: ("429", retry_after), ("500",), ("400", description), ("401",), ("slow", seconds).
    """

    def __init__(self):
        self.script = []
        self.delivered = []  # (chat_id, text, parse_mode) of accepted messages
        self.attempts = 0
        self.always = None  # an entry answered to every request, when set
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.attempts += 1
                    step = server.always or (server.script.pop(0) if server.script else ("ok",))
                if self.path != f"/bot{TOKEN}/sendMessage":
                    return self._answer(404, {"ok": False, "error_code": 404,
                                              "description": "Not Found"})
                kind = step[0]
                if kind == "slow":
                    time.sleep(step[1])
                    kind = "ok"
                if kind == "429":
                    return self._answer(429, {"ok": False, "error_code": 429,
                                              "description": f"Too Many Requests: retry after {step[1]}",
                                              "parameters": {"retry_after": step[1]}})
                if kind == "500":
                    return self._answer(500, {"ok": False, "error_code": 500,
                                              "description": "Internal Server Error"})
                if kind == "400":
                    return self._answer(400, {"ok": False, "error_code": 400, "description": step[1]})
                if kind == "401":
                    return self._answer(401, {"ok": False, "error_code": 401,
                                              "description": "Unauthorized"})
                if len(body["text"]) > 4096:
                    return self._answer(400, {"ok": False, "error_code": 400,
                                              "description": "Bad Request: message is too long"})
                with server._lock:
                    server.delivered.append((body["chat_id"], body["text"], body.get("parse_mode")))
                return self._answer(200, {"ok": True, "result": {"message_id": len(server.delivered)}})

            def _answer(self, status, document):
                data = json.dumps(document).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow answer, as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def texts(self):
        return [text for _, text, _ in self.delivered]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
