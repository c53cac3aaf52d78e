#!/usr/bin/python3
"""kafka-python (2.0) KafkaConsumer with group_id against sluice-broker.

    kafka_python_group_test.py consume HOST:PORT TOPIC GROUP NAME OUT STOPFILE

The same contract as `rdkafka_group_test consume` (see rdkafka_group_test.c):
subscribe to TOPIC in GROUP; for each message write "P <value>" to OUT, then
commit its offset synchronously; a refused commit writes "U <value>". Runs
until STOPFILE exists, then closes (LeaveGroup). Assignments go to stderr.
Gives up by itself after 150 s (so a SIGKILL of this process is a kill of
the consumer, with no wrapper in between).
"""
import os
import signal
import sys

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata


class Log(ConsumerRebalanceListener):
    def __init__(self, name):
        self.name = name

    def on_partitions_revoked(self, revoked):
        print("%s revoked: %s" % (self.name, " ".join(str(tp.partition) for tp in sorted(revoked))),
              file=sys.stderr, flush=True)

    def on_partitions_assigned(self, assigned):
        print("%s assigned: %s" % (self.name, " ".join(str(tp.partition) for tp in sorted(assigned))),
              file=sys.stderr, flush=True)


def consume(bs, topic, group, name, out_path, stop_path):
    signal.alarm(150)
    consumer = KafkaConsumer(
        bootstrap_servers=bs,
        group_id=group,
        client_id=name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    consumer.subscribe([topic], listener=Log(name))
    consumed = refused = 0
    with open(out_path, "a") as out:
        while not os.path.exists(stop_path):
            batches = consumer.poll(timeout_ms=200)
            for tp in sorted(batches):
                for rec in batches[tp]:
                    value = rec.value.decode()
                    out.write("P %s\n" % value)
                    out.flush()
                    try:
                        consumer.commit({TopicPartition(tp.topic, tp.partition):
                                         OffsetAndMetadata(rec.offset + 1, None)})
                        consumed += 1
                    except KafkaError:
                        out.write("U %s\n" % value)
                        out.flush()
                        refused += 1
    print("%s: consumed %d with commit, %d commits refused" % (name, consumed, refused),
          file=sys.stderr, flush=True)
    consumer.close()
    return 0


def main(argv):
    if len(argv) == 8 and argv[1] == "consume":
        return consume(*argv[2:8])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
