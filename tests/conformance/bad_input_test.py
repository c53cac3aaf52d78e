#!/usr/bin/python3
"""Raw Kafka frames, good and bad, thrown at a running sluice-broker.

    bad_input_test.py HOST:PORT STATE_FILE [--pid PID] [--data DIR]
    bad_input_test.py HOST:PORT STATE_FILE --resend

Hand-encoded requests (no client library), so the bytes are exactly what
each case needs:

  bad input   garbage, a too large / negative / too small size prefix, a
              truncated frame, an unknown API key, APIs and versions the
              broker does not serve, a body that does not decode, random
              frames: the broker closes only that connection (never
              answers with garbage) and keeps serving the others;
  protocol    ApiVersions v0..v3, the v0-format UNSUPPORTED_VERSION answer
              to a too new ApiVersions, INVALID_REQUEST for a bad v3 client
              name; pipelined requests answered in order; acks=0 produce
              gets no answer;
  idempotence InitProducerId, then a batch, the same batch again (answered
              with the first offset, not appended twice), a sequence gap
              (OUT_OF_ORDER_SEQUENCE_NUMBER), an old epoch; the producer id
              and last batch are saved to STATE_FILE; with --resend a later
              run (after a restart) resends that batch and expects the
              original offset again: producer state survived the restart;
  admin       CreateTopics, IncrementalAlterConfigs (segment.bytes and
              retention.ms take effect: with --data the segment files are
              counted; old segments go), DescribeConfigs, DeleteRecords,
              DescribeCluster, OffsetForLeaderEpoch;
  fetch       long poll: waits max_wait_ms when there is nothing, returns at
              once when a produce arrives;
  back pressure  with --pid: a client that pipelines hundreds of large
              fetches without reading must not make the broker's memory grow
              with them.
"""
import os
import random
import socket
import struct
import sys
import time

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


# ------------------------------------------------------------- encoding

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def u32(v): return struct.pack(">I", v)
def boolean(v): return b"\x01" if v else b"\x00"


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def nbytes(b):
    return i32(-1) if b is None else i32(len(b)) + b


def array(items, enc=lambda x: x):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def uvarint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header(key, ver, corr, flexible=False, client="raw-test"):
    return i16(key) + i16(ver) + i32(corr) + string(client) + (b"\x00" if flexible else b"")


def frame(payload):
    return i32(len(payload)) + payload


def request(key, ver, corr, body, flexible=False):
    return frame(header(key, ver, corr, flexible) + body)


# CRC-32C (Castagnoli), for record batches.
_T = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record_batch(records, base_ts, pid=-1, epoch=-1, seq=-1):
    """A record batch v2 holding (key, value) records, all at base_ts."""
    recs = b""
    for i, (k, v) in enumerate(records):
        body = (i8(0) + varint(0) + varint(i) + varint(len(k)) + k +
                varint(len(v)) + v + varint(0))
        recs += varint(len(body)) + body
    n = len(records)
    tail = (i16(0) + i32(n - 1) + i64(base_ts) + i64(base_ts) + i64(pid) +
            i16(epoch) + i32(seq) + i32(n) + recs)
    length = 4 + 1 + 4 + len(tail)
    return i64(0) + i32(length) + i32(0) + i8(2) + u32(crc32c(tail)) + tail


# ------------------------------------------------------------- decoding

class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("short response")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def nbytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, fn):
        n = self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def uvarint(self):
        v = s = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << s
            s += 7
            if not b & 0x80:
                return v

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def compact_array(self, fn):
        n = self.uvarint()
        return None if n == 0 else [fn(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


# ----------------------------------------------------------- connections

def connect(bs):
    host, port = bs.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n, timeout=10.0):
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed by the broker")
        out += chunk
    return out


def read_response(s, timeout=10.0):
    """(correlation id, body bytes after the v0 header)."""
    n = struct.unpack(">i", recv_exact(s, 4, timeout))[0]
    data = recv_exact(s, n, timeout)
    return struct.unpack(">i", data[:4])[0], data[4:]


def closed_without_answer(s, timeout=5.0):
    """True when the broker closes s without sending a byte."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return data == b""


def call(bs, key, ver, body, flexible=False, sock=None):
    s = sock or connect(bs)
    try:
        s.sendall(request(key, ver, 7, body, flexible))
        corr, resp = read_response(s)
        assert corr == 7
        return Reader(resp)
    finally:
        if sock is None:
            s.close()


def api_versions_ok(bs):
    try:
        r = call(bs, 18, 0, b"")
        return r.i16() == 0
    except (OSError, ValueError):
        return False


# --------------------------------------------------------- client calls

def create_topic(bs, name, partitions=1, configs=()):
    body = array([string(name) + i32(partitions) + i16(1) + array([]) +
                  array([string(k) + string(v) for k, v in configs])]) + i32(10000)
    r = call(bs, 19, 0, body)
    return r.array(lambda r: (r.string(), r.i16()))[0][1]


def init_producer_id(bs):
    r = call(bs, 22, 0, string(None) + i32(60000))
    r.i32()
    return r.i16(), r.i64(), r.i16()


def produce(bs, topic, partition, batch, acks=-1, sock=None, ver=3):
    body = string(None) + i16(acks) + i32(10000) + array(
        [string(topic) + array([i32(partition) + nbytes(batch)])])
    r = call(bs, 0, ver, body, sock=sock)
    topics = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    _, err, base, _ = topics[0][1][0]
    return err, base


def list_offset(bs, topic, partition, ts):
    body = i32(-1) + array([string(topic) + array([i32(partition) + i64(ts)])])
    r = call(bs, 2, 1, body)
    t = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    _, err, _, off = t[0][1][0]
    return off if err == 0 else ("error", err)


def fetch_body(topic, partition, offset, max_wait, min_bytes=1, max_bytes=1 << 20):
    return (i32(-1) + i32(max_wait) + i32(min_bytes) + i32(max_bytes) + i8(0) +
            array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])]))


def parse_fetch_v4(r):
    r.i32()
    out = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            part, err, hw, _lso = r.i32(), r.i16(), r.i64(), r.i64()
            r.array(lambda r: (r.i64(), r.i64()))
            recs = r.nbytes()
            out.append((part, err, hw, recs or b""))
    return out


def alter_configs(bs, topic, ops):
    body = array([i8(2) + string(topic) + array(
        [string(k) + i8(op) + string(v) for k, op, v in ops])]) + boolean(False)
    r = call(bs, 44, 0, body)
    r.i32()
    res = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    return res[0][0], res[0][1]


def describe_configs(bs, topic):
    body = array([i8(2) + string(topic) + i32(-1)])
    r = call(bs, 32, 0, body)
    r.i32()
    res = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.string(), r.array(
        lambda r: (r.string(), r.string(), r.i8(), r.i8(), r.i8()))))
    return {c[0]: c[1] for c in res[0][4]}


def segment_files(data_dir, topic):
    d = os.path.join(data_dir, topic + "-0")
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


# ------------------------------------------------------------ the cases

def test_bad_frames(bs):
    cases = [
        ("garbage (an HTTP request)", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("size prefix 2^31-1", i32(0x7FFFFFFF) + b"\x00" * 64),
        ("negative size prefix", i32(-5) + b"\x00" * 64),
        ("size prefix below a request header", i32(3) + b"\x00\x12\x00"),
        ("unknown API key 1000", request(1000, 0, 1, b"")),
        ("unknown API key -1", request(-1, 0, 1, b"")),
        ("JoinGroup (described, not served yet)", request(11, 2, 1, b"\x00" * 40)),
        ("Metadata v13 (unsupported version)", request(3, 13, 1, i32(-1))),
        ("Produce v2 (below the supported range)", request(0, 2, 1, b"\x00" * 20)),
        ("Metadata v1 claiming a million topics", request(3, 1, 1, i32(1000000))),
        ("Produce v3 cut short", request(0, 3, 1, string(None) + i16(1))),
        ("a body with trailing bytes", request(18, 0, 1, b"\x01\x02\x03")),
    ]
    for what, data in cases:
        s = connect(bs)
        s.sendall(data)
        check(closed_without_answer(s), "%s: connection closed, no answer" % what)
        s.close()
        check(api_versions_ok(bs), "  ... and the broker still answers others")

    # A truncated frame: the broker waits for the rest without blocking
    # anyone else, and forgets it when the client goes away.
    s = connect(bs)
    s.sendall(i32(100) + b"\x00\x12\x00\x00" + b"\x00" * 10)
    check(api_versions_ok(bs), "truncated frame pending: others are served")
    s.close()
    s = connect(bs)
    s.sendall(i32(100) + b"\x00" * 20)
    s.shutdown(socket.SHUT_WR)
    check(closed_without_answer(s), "truncated frame then EOF: closed")
    s.close()


def test_random_frames(bs, n=300, seed=20261127):
    rnd = random.Random(seed)
    keys = [0, 1, 2, 3, 10, 18, 19, 20, 21, 22, 23, 32, 37, 44, 60, 7, 99]
    answered = closed = 0
    for i in range(n):
        key = rnd.choice(keys)
        ver = rnd.randint(-1, 14)
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200)))
        if rnd.random() < 0.3:  # mostly valid prefixes of a plausible body
            body = i32(rnd.randint(-2, 3)) + body
        s = connect(bs)
        try:
            s.sendall(request(key, ver, i, body, flexible=rnd.random() < 0.5))
            try:
                corr, _ = read_response(s, timeout=5)
                answered += 1
                if corr != i:
                    check(False, "random frame %d: answer with correlation id %d" % (i, corr))
            except (ConnectionError, ConnectionResetError):
                closed += 1
        finally:
            s.close()
    check(api_versions_ok(bs),
          "%d random frames: %d answered, %d closed; the broker is up" % (n, answered, closed))


def test_api_versions(bs):
    for v in (0, 1, 2):
        r = call(bs, 18, v, b"")
        err = r.i16()
        keys = {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}
        check(err == 0 and {0, 1, 2, 3, 18} <= set(keys),
              "ApiVersions v%d: error %d, %d APIs" % (v, err, len(keys)))
    body = compact_string("sluice-raw") + compact_string("1.0") + b"\x00"
    r = call(bs, 18, 3, body, flexible=True)
    err = r.i16()
    keys = r.compact_array(lambda r: (r.i16(), r.i16(), r.i16(), r.tags()))
    check(err == 0 and len(keys) > 5, "ApiVersions v3 (flexible): error %d, %d APIs" % (err, len(keys)))
    r = call(bs, 18, 3, compact_string("bad name!") + compact_string("1") + b"\x00", flexible=True)
    check(r.i16() == 42, "ApiVersions v3 with an invalid client name: INVALID_REQUEST")
    r = call(bs, 18, 99, b"\xff" * 10, flexible=True)
    err = r.i16()
    keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    check(err == 35 and keys == [(18, 0, 3)],
          "ApiVersions v99: v0-format UNSUPPORTED_VERSION listing %s" % (keys,))


def test_pipelining(bs):
    s = connect(bs)
    reqs = b""
    for i in range(40):
        if i % 2:
            reqs += request(3, 1, 1000 + i, i32(-1))
        else:
            reqs += request(18, 0, 1000 + i, b"")
    s.sendall(reqs)
    corrs = [read_response(s)[0] for _ in range(40)]
    check(corrs == list(range(1000, 1040)), "40 pipelined requests answered in order")
    s.close()


def test_acks0(bs):
    create_topic(bs, "raw-acks0")
    batch = record_batch([(b"k", b"v")], int(time.time() * 1000))
    s = connect(bs)
    body = string(None) + i16(0) + i32(1000) + array(
        [string("raw-acks0") + array([i32(0) + nbytes(batch)])])
    s.sendall(request(0, 3, 1, body) + request(18, 0, 2, b""))
    corr, _ = read_response(s)
    check(corr == 2, "acks=0 produce: no answer (next answer is correlation id %d)" % corr)
    s.close()
    check(list_offset(bs, "raw-acks0", 0, -1) == 1, "acks=0 record was appended")
    # An acks=0 produce that fails closes the connection.
    s = connect(bs)
    body = string(None) + i16(0) + i32(1000) + array(
        [string("raw-acks0") + array([i32(0) + nbytes(b"\x00" * 70)])])
    s.sendall(request(0, 3, 1, body))
    check(closed_without_answer(s), "acks=0 produce of a corrupt batch: connection closed")
    s.close()


def save_state(path, pid, epoch, seq_next, batch, offset, topic):
    with open(path, "w") as f:
        f.write("%d %d %d %d %s %s\n" % (pid, epoch, seq_next, offset, topic, batch.hex()))


def load_state(path):
    with open(path) as f:
        pid, epoch, seq_next, offset, topic, hexb = f.read().split()
    return int(pid), int(epoch), int(seq_next), bytes.fromhex(hexb), int(offset), topic


def test_idempotence(bs, state):
    topic = "raw-idem"
    check(create_topic(bs, topic) == 0, "CreateTopics %s" % topic)
    err, pid, epoch = init_producer_id(bs)
    check(err == 0 and pid >= 0 and epoch == 0, "InitProducerId: pid %d epoch %d" % (pid, epoch))
    err2, pid2, _ = init_producer_id(bs)
    check(err2 == 0 and pid2 != pid, "a second InitProducerId gets another id (%d)" % pid2)
    ts = int(time.time() * 1000)
    b0 = record_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], ts, pid, epoch, 0)
    check(produce(bs, topic, 0, b0) == (0, 0), "batch seq 0-2 appended at offset 0")
    check(produce(bs, topic, 0, b0) == (0, 0), "the same batch again: acknowledged with offset 0")
    check(list_offset(bs, topic, 0, -1) == 3, "... and not appended twice (end offset 3)")
    b1 = record_batch([(b"d", b"4"), (b"e", b"5")], ts, pid, epoch, 3)
    check(produce(bs, topic, 0, b1) == (0, 3), "batch seq 3-4 appended at offset 3")
    check(produce(bs, topic, 0, b0) == (0, 0), "an older batch (within the last 5) again: offset 0")
    gap = record_batch([(b"x", b"9")], ts, pid, epoch, 9)
    check(produce(bs, topic, 0, gap)[0] == 45, "sequence gap: OUT_OF_ORDER_SEQUENCE_NUMBER")
    b2 = record_batch([(b"f", b"6")], ts, pid, epoch + 1, 0)
    check(produce(bs, topic, 0, b2) == (0, 5), "epoch bump starting at seq 0: offset 5")
    old = record_batch([(b"g", b"7")], ts, pid, epoch, 5)
    check(produce(bs, topic, 0, old)[0] == 47, "old epoch: INVALID_PRODUCER_EPOCH")
    check(list_offset(bs, topic, 0, -1) == 6, "end offset 6")
    save_state(state, pid, epoch + 1, 1, b2, 5, topic)


def test_resend(bs, state):
    """After a restart: the last batch is still recognised as a duplicate."""
    pid, epoch, seq_next, last, offset, topic = load_state(state)
    end = list_offset(bs, topic, 0, -1)
    check(produce(bs, topic, 0, last) == (0, offset),
          "after restart, the last batch again: acknowledged with offset %d" % offset)
    check(list_offset(bs, topic, 0, -1) == end, "... and not appended (end offset %s)" % end)
    nxt = record_batch([(b"r", b"%d" % seq_next)], int(time.time() * 1000), pid, epoch, seq_next)
    check(produce(bs, topic, 0, nxt) == (0, end), "the next sequence is appended at %s" % end)
    gap = record_batch([(b"x", b"9")], int(time.time() * 1000), pid, epoch, seq_next + 5)
    check(produce(bs, topic, 0, gap)[0] == 45, "a gap is still OUT_OF_ORDER_SEQUENCE_NUMBER")
    save_state(state, pid, epoch, seq_next + 1, nxt, end, topic)


def test_admin(bs, data_dir):
    topic = "raw-cfg"
    check(create_topic(bs, topic, 1, [("retention.ms", "-1")]) == 0, "CreateTopics %s" % topic)
    check(create_topic(bs, topic) == 36, "CreateTopics again: TOPIC_ALREADY_EXISTS")
    check(create_topic(bs, "bad/name") == 17, "CreateTopics bad/name: INVALID_TOPIC_EXCEPTION")
    # retention.ms stays unlimited until the segments are counted below (a
    # retention check in between would delete the two-hour-old ones).
    err, msg = alter_configs(bs, topic, [("segment.bytes", 0, "2000"), ("retention.ms", 0, "-1")])
    check(err == 0, "IncrementalAlterConfigs segment.bytes=2000 retention.ms=-1: %d %s" % (err, msg))
    err, msg = alter_configs(bs, topic, [("segment.bytes", 0, "nope")])
    check(err == 40, "IncrementalAlterConfigs bad value: INVALID_CONFIG (%s)" % msg)
    err, msg = alter_configs(bs, topic, [("cleanup.policy", 2, "compact")])
    check(err == 0, "IncrementalAlterConfigs APPEND cleanup.policy compact")
    cfg = describe_configs(bs, topic)
    check(cfg.get("segment.bytes") == "2000" and cfg.get("retention.ms") == "-1" and
          cfg.get("cleanup.policy") == "compact,delete",
          "DescribeConfigs shows them: %s %s %s" % (cfg.get("segment.bytes"),
                                                    cfg.get("retention.ms"), cfg.get("cleanup.policy")))
    err, _ = alter_configs(bs, topic, [("cleanup.policy", 3, "compact")])
    check(err == 0, "IncrementalAlterConfigs SUBTRACT cleanup.policy compact")
    # segment.bytes takes effect: 2000-byte segments roll. Records are two
    # hours old, so once retention.ms drops to one hour the old segments go.
    old = int(time.time() * 1000) - 7200000
    deadline = time.time() + 10

    def produce_while_reopening(batch):
        # A config change reopens the log: NOT_LEADER_OR_FOLLOWER (6) until
        # it is back, so retry those.
        err = 6
        while err == 6 and time.time() < deadline:
            err = produce(bs, topic, 0, batch)[0]
            if err == 6:
                time.sleep(0.05)
        return err

    errs = [produce_while_reopening(record_batch([(b"k%d" % i, b"x" * 600)], old))
            for i in range(12)]
    check(errs == [0] * 12, "12 batches of 600 bytes produced: errors %s" % errs)
    if data_dir:
        segs = segment_files(data_dir, topic)
        check(len(segs) >= 4, "segment.bytes=2000 took effect: %d segment files" % len(segs))
    err, _ = alter_configs(bs, topic, [("retention.ms", 0, "3600000"), ("segment.bytes", 0, "2000")])
    # retention.ms takes effect at the next retention check (1 s here).
    deadline = time.time() + 15
    start = 0
    while time.time() < deadline:
        start = list_offset(bs, topic, 0, -2)
        if isinstance(start, int) and start > 0:
            break
        time.sleep(0.2)
    check(isinstance(start, int) and start > 0,
          "retention.ms took effect: log start offset moved to %s" % (start,))
    # DeleteRecords up to 11.
    body = array([string(topic) + array([i32(0) + i64(11)])]) + i32(5000)
    r = call(bs, 21, 0, body)
    r.i32()
    res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i64(), r.i16()))))
    _, low, err = res[0][1][0]
    check(err == 0 and low == 11, "DeleteRecords before 11: low watermark %d" % low)
    check(list_offset(bs, topic, 0, -2) == 11, "ListOffsets earliest = 11")
    body = array([string(topic) + array([i32(0) + i64(99)])]) + i32(5000)
    r = call(bs, 21, 0, body)
    r.i32()
    res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i64(), r.i16()))))
    check(res[0][1][0][2] == 1, "DeleteRecords past the end: OFFSET_OUT_OF_RANGE")
    # DescribeCluster (flexible from v0).
    r = call(bs, 60, 0, b"\x00" + b"\x00", flexible=True)
    r.tags()  # response header v1
    r.i32()
    err = r.i16()
    r.compact_string()
    cluster = r.compact_string()
    controller = r.i32()
    brokers = r.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.tags()))
    check(err == 0 and cluster and len(brokers) == 1 and brokers[0][0] == controller,
          "DescribeCluster: cluster %s, broker %s" % (cluster, brokers[0][:3]))
    # OffsetForLeaderEpoch v2 (current leader epoch -1 = unchecked).
    end = list_offset(bs, topic, 0, -1)
    body = array([string(topic) + array([i32(0) + i32(-1) + i32(0)])])
    r = call(bs, 23, 2, body)
    r.i32()
    res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i16(), r.i32(), r.i32(), r.i64()))))
    err, _, epoch, off = res[0][1][0]
    check(err == 0 and epoch == 0 and off == end,
          "OffsetForLeaderEpoch epoch 0: ends at %d (log end %s)" % (off, end))


def test_long_poll(bs):
    topic = "raw-poll"
    create_topic(bs, topic)
    t = time.time()
    r = call(bs, 1, 4, fetch_body(topic, 0, 0, 700))
    parts = parse_fetch_v4(r)
    waited = time.time() - t
    check(parts[0][1] == 0 and parts[0][3] == b"" and 0.6 < waited < 5,
          "Fetch at the end waits max_wait_ms (700 ms): %.2f s, empty" % waited)
    s = connect(bs)
    s.sendall(request(1, 4, 5, fetch_body(topic, 0, 0, 10000)))
    time.sleep(0.3)
    t = time.time()
    produce(bs, topic, 0, record_batch([(b"k", b"wake up")], int(t * 1000)))
    corr, body = read_response(s, timeout=8)
    waited = time.time() - t
    parts = parse_fetch_v4(Reader(body))
    check(corr == 5 and parts[0][1] == 0 and b"wake up" in parts[0][3] and waited < 2,
          "a parked Fetch (max_wait 10 s) returns %.3f s after a produce" % waited)
    s.close()
    # Fetch beyond the end: OFFSET_OUT_OF_RANGE, at once.
    r = call(bs, 1, 4, fetch_body(topic, 0, 99, 5000))
    check(parse_fetch_v4(r)[0][1] == 1, "Fetch past the end: OFFSET_OUT_OF_RANGE")
    r = call(bs, 1, 4, fetch_body("no-such-topic", 0, 0, 5000))
    check(parse_fetch_v4(r)[0][1] == 3, "Fetch of an unknown topic: UNKNOWN_TOPIC_OR_PARTITION")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def test_slow_reader(bs, pid):
    """Hundreds of pipelined large fetches, never read: memory stays flat."""
    topic = "raw-big"
    create_topic(bs, topic)
    chunk = record_batch([(b"k%d" % i, os.urandom(900)) for i in range(900)], int(time.time() * 1000))
    for _ in range(8):  # about 6.5 MB
        produce(bs, topic, 0, chunk)
    before = rss_kib(pid)
    s = connect(bs)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    one = request(1, 4, 1, fetch_body(topic, 0, 0, 0, 1, 16 << 20))
    s.setblocking(False)
    sent = 0
    deadline = time.time() + 4
    payload = one * 500  # would be about 3 GB of responses if buffered
    while sent < len(payload) and time.time() < deadline:
        try:
            sent += s.send(payload[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
    time.sleep(1.0)
    after = rss_kib(pid)
    growth_mib = (after - before) / 1024.0
    check(growth_mib < 128,
          "slow reader: %d of %d request bytes accepted, broker RSS grew %.1f MiB" %
          (sent, len(payload), growth_mib))
    check(api_versions_ok(bs), "other clients are still served")
    s.close()


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    bs, state = args[0], args[1]
    pid = int(args[args.index("--pid") + 1]) if "--pid" in args else None
    data_dir = args[args.index("--data") + 1] if "--data" in args else None
    if "--resend" in args:
        test_resend(bs, state)
    else:
        test_bad_frames(bs)
        test_random_frames(bs)
        test_api_versions(bs)
        test_pipelining(bs)
        test_acks0(bs)
        test_idempotence(bs, state)
        test_admin(bs, data_dir)
        test_long_poll(bs)
        if pid:
            test_slow_reader(bs, pid)
    print("passed" if failures == 0 else "FAILED (%d failures)" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
