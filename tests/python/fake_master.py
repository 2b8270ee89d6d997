"""A fake Mesos master for the Python driver tests: speaks just enough of the v1 scheduler API
(POST /api/v1/scheduler, protobuf, RecordIO event stream) to drive mesos.native's scheduler
driver without daemons. Events are built with the package's own v1 messages (v0 names, v1
numbers), which is what the real master sends on the wire.

The test decides what happens: it pushes events onto the open stream (send), reads the calls
the driver made (calls / wait_call), and can cut the stream (drop_stream)."""
import http.server
import queue
import threading
import time

from mesos._internal import scheduler_pb2 as v1

FRAMEWORK_ID = 'fw-0001'


class FakeMaster(object):
    def __init__(self, heartbeat=15.0):
        self.heartbeat = heartbeat
        self.calls = []  # every non-SUBSCRIBE Call, decoded, as it arrives
        self.timeline = []  # ('arrived' | 'answered', call type), in order
        self.subscribes = []  # every SUBSCRIBE Call
        self.authorizations = []  # the Authorization header of every request (or None)
        self.cond = threading.Condition()
        self.streams = []  # one queue per open stream
        self.on_call = None  # optional hook(call) -> list of events to stream
        self.refuse = {}  # call type -> (status, body)
        self.delay = {}  # call type -> seconds to wait before answering
        master = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                body = self.rfile.read(n)
                with master.cond:
                    master.authorizations.append(self.headers.get('Authorization'))
                call = master.Call()
                call.ParseFromString(body)
                if call.type == master.Call.SUBSCRIBE:
                    master._stream(self, call)
                else:
                    master._call(self, call)

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = '127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.drop_stream()
        self.server.shutdown()
        self.server.server_close()

    # ---- test side ----------------------------------------------------------------------

    def send(self, event):
        with self.cond:
            for q in self.streams:
                q.put(event)

    def drop_stream(self):
        with self.cond:
            for q in self.streams:
                q.put(None)
            self.streams = []

    def wait(self, pred, timeout=10.0):
        end = time.time() + timeout
        with self.cond:
            while not pred():
                left = end - time.time()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def wait_call(self, ctype, count=1, timeout=10.0):
        ok = self.wait(lambda: len(self.calls_of(ctype)) >= count, timeout)
        return self.calls_of(ctype) if ok else None

    def calls_of(self, ctype):
        return [c for c in self.calls if c.type == ctype]

    # ---- server side --------------------------------------------------------------------

    def _stream(self, h, call):
        q = queue.Queue()
        # SUBSCRIBED goes first, before the test can put anything on this stream.
        q.put(self.subscribed_event())
        with self.cond:
            self.subscribes.append(call)
            self.streams.append(q)
            self.cond.notify_all()
        h.send_response(200)
        h.send_header('Content-Type', 'application/x-protobuf')
        h.send_header('Mesos-Stream-Id', 'stream-%d' % len(self.subscribes))
        h.send_header('Transfer-Encoding', 'chunked')
        h.end_headers()
        try:
            while True:
                try:
                    item = q.get(timeout=self.heartbeat)
                except queue.Empty:
                    item = self.heartbeat_event()
                if item is None:
                    h.wfile.write(b'0\r\n\r\n')
                    h.wfile.flush()
                    h.close_connection = True
                    return
                data = item.SerializeToString()
                record = b'%d\n' % len(data) + data
                h.wfile.write(b'%x\r\n' % len(record) + record + b'\r\n')
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with self.cond:
                if q in self.streams:
                    self.streams.remove(q)

    Call = v1.Call

    def subscribed_event(self):
        ev = v1.Event(type=v1.Event.SUBSCRIBED)
        ev.subscribed.framework_id.value = FRAMEWORK_ID
        ev.subscribed.heartbeat_interval_seconds = self.heartbeat
        ev.subscribed.master_info.id = 'master-1'
        ev.subscribed.master_info.ip = 0x0100007f
        ev.subscribed.master_info.port = self.port
        return ev

    def heartbeat_event(self):
        return v1.Event(type=v1.Event.HEARTBEAT)

    def _call(self, h, call):
        with self.cond:
            self.calls.append(call)
            self.timeline.append(('arrived', call.type))
            self.cond.notify_all()
        if call.type in self.delay:
            time.sleep(self.delay[call.type])
        status, text = self.refuse.get(call.type, (202, b''))
        if call.type == getattr(self.Call, 'UPDATE_FRAMEWORK', None) and status == 202:
            status = 200
        h.send_response(status)
        h.send_header('Content-Length', str(len(text)))
        h.end_headers()
        h.wfile.write(text)
        h.wfile.flush()
        with self.cond:
            self.timeline.append(('answered', call.type))
        if self.on_call is not None:
            for ev in self.on_call(call) or []:
                self.send(ev)
        if call.type == getattr(self.Call, 'TEARDOWN', None):
            self.drop_stream()
