#!/usr/bin/python3
"""kafka_log_format.py -- an independent reader of Kafka partition directories.

Parses a log directory following Kafka's published on-disk format (Apache
Kafka documentation, "Implementation": record batch v2 and record layouts,
segment, offset index and time index files, checkpoint text files), not
Sluice's code, and checks it:

  * every <20-digit base offset>.log file is a sequence of record batches:
    baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
    magic int8 (= 2), crc uint32, attributes int16, lastOffsetDelta int32,
    baseTimestamp int64, maxTimestamp int64, producerId int64,
    producerEpoch int16, baseSequence int32, records count int32, records;
    the CRC-32C (Castagnoli) of everything from attributes to the end must
    equal crc; offsets grow across batches and segments and stay inside
    their segment;
  * records of uncompressed (and gzip, the codec in Python's standard
    library) batches decode: length varint, attributes int8,
    timestampDelta varlong, offsetDelta varint, key, value, headers, all
    varints zig-zag; their count matches, offset deltas grow and stay
    within lastOffsetDelta;
  * <base>.index holds 8-byte entries (relative offset int32, position
    int32), increasing, each pointing at the start of a batch whose last
    offset is base + relative offset;
  * <base>.timeindex holds 12-byte entries (timestamp int64, relative
    offset int32) with increasing timestamps, each naming the last offset
    of a batch, its timestamp the largest batch max timestamp up to there;
  * leader-epoch-checkpoint is "0", a count, then "epoch startOffset"
    lines, and agrees with each batch's partitionLeaderEpoch.

Standard library only; the CRC-32C is computed here from the published
(reflected) polynomial 0x82F63B78.

usage: kafka_log_format.py DIR... [--quiet]      exit 0 if all is well
       kafka_log_format.py --self-test
"""

import gzip
import os
import re
import struct
import sys

CRC32C_POLY = 0x82F63B78


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ CRC32C_POLY if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Reader:
    """Bounds-checked reads over bytes; raises ValueError past the end."""

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise ValueError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uvarint(self, max_bytes):
        shift = 0
        value = 0
        for _ in range(max_bytes):
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise ValueError("varint too long")

    def varint(self):  # zig-zag int32
        v = self.uvarint(5)
        return (v >> 1) ^ -(v & 1)

    def varlong(self):  # zig-zag int64
        v = self.uvarint(10)
        return (v >> 1) ^ -(v & 1)

    def nullable(self):
        n = self.varint()
        if n < -1:
            raise ValueError("negative length %d" % n)
        return None if n == -1 else self.take(n)


BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # 61 bytes
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def parse_records(payload, count, last_delta):
    r = Reader(payload)
    prev_delta = -1
    keys = 0
    for i in range(count):
        length = r.varint()
        if length < 0:
            raise ValueError("record %d: negative length" % i)
        end = r.pos + length
        rr = Reader(payload, r.pos, end)
        rr.take(1)  # attributes
        rr.varlong()  # timestampDelta
        delta = rr.varint()
        if delta <= prev_delta or delta > last_delta:
            raise ValueError("record %d: offset delta %d out of order" % (i, delta))
        prev_delta = delta
        if rr.nullable() is not None:
            keys += 1
        rr.nullable()
        headers = rr.varint()
        if headers < 0:
            raise ValueError("record %d: negative header count" % i)
        for _ in range(headers):
            if rr.nullable() is None:
                raise ValueError("record %d: null header key" % i)
            rr.nullable()
        if rr.pos != end:
            raise ValueError("record %d: %d bytes left inside it" % (i, end - rr.pos))
        r.pos = end
    if r.pos != len(payload):
        raise ValueError("%d bytes after the last record" % (len(payload) - r.pos))
    return keys


class Checker:
    def __init__(self, quiet):
        self.quiet = quiet
        self.problems = 0
        self.stats = dict(segments=0, batches=0, records=0, index=0, timeindex=0,
                          undecoded=0)

    def problem(self, where, msg):
        self.problems += 1
        print("%s: %s" % (where, msg))

    def check_log(self, path, base, limit, prev_last):
        """Returns [(position, base offset, last offset, max timestamp, epoch)]."""
        data = open(path, "rb").read()
        batches = []
        pos = 0
        name = os.path.basename(path)
        while pos < len(data):
            if len(data) - pos < BATCH_HEADER.size:
                self.problem(name, "%d bytes at %d: not a whole batch header"
                             % (len(data) - pos, pos))
                break
            (base_offset, length, epoch, magic, crc, attrs, last_delta, base_ts,
             max_ts, pid, pepoch, bseq, count) = BATCH_HEADER.unpack_from(data, pos)
            total = 12 + length
            if length < BATCH_HEADER.size - 12 or pos + total > len(data):
                self.problem(name, "batch at %d: length %d runs past the file"
                             % (pos, length))
                break
            where = "%s batch at %d (offset %d)" % (name, pos, base_offset)
            if magic != 2:
                self.problem(where, "magic %d" % magic)
            if crc32c(data[pos + 21:pos + total]) != crc:
                self.problem(where, "CRC-32C mismatch")
            last = base_offset + last_delta
            if last_delta < 0 or count < 0 or count > last_delta + 1:
                self.problem(where, "record count %d / last offset delta %d"
                             % (count, last_delta))
            if base_offset <= prev_last:
                self.problem(where, "base offset not above previous last offset %d"
                             % prev_last)
            if base_offset < base or last > limit:
                self.problem(where, "offsets %d..%d outside the segment" % (base_offset, last))
            codec = attrs & 7
            payload = data[pos + BATCH_HEADER.size:pos + total]
            try:
                if codec == 1 and payload:
                    payload = gzip.decompress(payload)
                if codec in (0, 1):
                    if count == 0 and not payload:
                        pass
                    else:
                        parse_records(payload, count, last_delta)
                    self.stats["records"] += count
                elif codec in CODECS:
                    self.stats["undecoded"] += 1
                else:
                    self.problem(where, "unknown codec %d" % codec)
            except (ValueError, OSError, EOFError) as e:
                self.problem(where, "records: %s" % e)
            batches.append((pos, base_offset, last, max_ts, epoch))
            prev_last = last
            pos += total
        self.stats["batches"] += len(batches)
        return batches

    def check_index(self, path, base, batches):
        name = os.path.basename(path)
        if not os.path.exists(path):
            self.problem(name, "missing")
            return
        data = open(path, "rb").read()
        if len(data) % 8:
            self.problem(name, "size %d not a multiple of 8" % len(data))
        starts = {b[0]: b[2] for b in batches}
        prev = (-1, -1)
        for i in range(len(data) // 8):
            rel, position = struct.unpack_from(">ii", data, i * 8)
            if rel <= prev[0] or position <= prev[1]:
                self.problem(name, "entry %d (%d, %d) not increasing" % (i, rel, position))
            if position not in starts:
                self.problem(name, "entry %d: position %d is not a batch start" % (i, position))
            elif starts[position] != base + rel:
                self.problem(name, "entry %d: offset %d but the batch at %d ends at %d"
                             % (i, base + rel, position, starts[position]))
            prev = (rel, position)
        self.stats["index"] += len(data) // 8

    def check_timeindex(self, path, base, batches):
        name = os.path.basename(path)
        if not os.path.exists(path):
            self.problem(name, "missing")
            return
        data = open(path, "rb").read()
        if len(data) % 12:
            self.problem(name, "size %d not a multiple of 12" % len(data))
        running = {}
        high = -1
        for b in batches:
            high = max(high, b[3])
            running[b[2]] = high
        prev_ts, prev_rel = None, -1
        for i in range(len(data) // 12):
            ts, rel = struct.unpack_from(">qi", data, i * 12)
            if (prev_ts is not None and ts <= prev_ts) or rel < prev_rel:
                self.problem(name, "entry %d (%d, %d) not increasing" % (i, ts, rel))
            if base + rel not in running:
                self.problem(name, "entry %d: offset %d is not a batch's last offset"
                             % (i, base + rel))
            elif running[base + rel] != ts:
                self.problem(name, "entry %d: timestamp %d, largest up to offset %d is %d"
                             % (i, ts, base + rel, running[base + rel]))
            prev_ts, prev_rel = ts, rel
        self.stats["timeindex"] += len(data) // 12

    def read_epochs(self, path):
        if not os.path.exists(path):
            return None
        lines = open(path, "rb").read().decode("ascii", "replace").split("\n")
        try:
            if lines[-1] != "" or lines[0] != "0" or int(lines[1]) != len(lines) - 3:
                raise ValueError("bad version or count line")
            out = []
            for line in lines[2:-1]:
                epoch, start = line.split(" ")
                out.append((int(epoch), int(start)))
            return out
        except (ValueError, IndexError) as e:
            self.problem("leader-epoch-checkpoint", "malformed: %s" % e)
            return None

    def check_dir(self, d):
        names = sorted(os.listdir(d))
        bases = []
        for n in names:
            m = re.fullmatch(r"(\d{20})\.log", n)
            if m:
                bases.append(int(m.group(1)))
            elif re.fullmatch(r".*\.(log|index|timeindex)", n) and \
                    not re.fullmatch(r"\d{20}\.(index|timeindex)", n):
                self.problem(n, "not a segment file name")
        epochs = self.read_epochs(os.path.join(d, "leader-epoch-checkpoint"))
        prev_last = -1
        for i, base in enumerate(bases):
            limit = bases[i + 1] - 1 if i + 1 < len(bases) else (1 << 63) - 1
            stem = os.path.join(d, "%020d" % base)
            batches = self.check_log(stem + ".log", base, limit, prev_last)
            if batches:
                prev_last = batches[-1][2]
            self.check_index(stem + ".index", base, batches)
            self.check_timeindex(stem + ".timeindex", base, batches)
            if epochs:
                for (pos, b, last, _, epoch) in batches:
                    if last < epochs[0][1]:
                        continue  # below the log start: the cache was collapsed
                    want = [e for (e, s) in epochs if s <= last][-1]
                    if want != epoch:
                        self.problem("%020d.log batch at %d" % (base, pos),
                                     "leader epoch %d, checkpoint says %d" % (epoch, want))
            self.stats["segments"] += 1
        for ck in ("recovery-point-offset-checkpoint", "log-start-offset-checkpoint"):
            p = os.path.join(os.path.dirname(os.path.abspath(d)), ck)
            if os.path.exists(p):
                self.check_offset_checkpoint(p)

    def check_offset_checkpoint(self, path):
        lines = open(path, "rb").read().decode("utf-8", "replace").split("\n")
        ok = len(lines) >= 3 and lines[-1] == "" and lines[0] == "0" and \
            lines[1].isdigit() and int(lines[1]) == len(lines) - 3
        for line in lines[2:-1] if ok else []:
            f = line.split(" ")
            ok = ok and len(f) == 3 and f[0] != "" and f[1].isdigit() and \
                re.fullmatch(r"-?\d+", f[2]) is not None
        if not ok:
            self.problem(os.path.basename(path), "malformed offset checkpoint")


def self_test():
    assert crc32c(b"123456789") == 0xE3069283, hex(crc32c(b"123456789"))
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    print("kafka_log_format: self-test ok")
    return 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    quiet = "--quiet" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    if not dirs or "--help" in argv:
        print(__doc__.strip().split("\n\n")[-1])
        return 2 if not dirs else 0
    status = 0
    for d in dirs:
        if not os.path.isdir(d):
            print("kafka_log_format: %s: not a directory" % d)
            status = 1
            continue
        c = Checker(quiet)
        c.check_dir(d)
        s = c.stats
        print("kafka_log_format: %s: %d segments, %d batches, %d records decoded "
              "(%d compressed batches not decoded), %d index and %d time index "
              "entries: %s" % (d, s["segments"], s["batches"], s["records"],
                               s["undecoded"], s["index"], s["timeindex"],
                               "OK" if c.problems == 0 else "%d PROBLEMS" % c.problems))
        if c.problems:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
