#!/usr/bin/python3
"""kafka-python (2.0) against a running sluice-broker.

    kafka_python_test.py HOST:PORT

1. KafkaAdminClient: create topics (with configs), list them, describe their
   configs, alter a config, add partitions, delete a topic;
2. KafkaProducer with gzip compression: keyed messages with explicit
   timestamps to every partition, each future resolved to an offset;
3. KafkaConsumer with manual assignment (assign, seek_to_beginning): every
   message back with its key, value and timestamp; offsets_for_times and a
   seek by timestamp; beginning/end offsets.

Prints one line per check; exits 0 when all passed.
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


def wait_for(pred, seconds=10.0):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def main(bs):
    topic = "kp-gzip"
    partitions = 3
    admin = KafkaAdminClient(bootstrap_servers=bs, client_id="sluice-kp-test",
                             request_timeout_ms=10000)
    print("kafka-python inferred broker version", admin.config["api_version"])

    # --- admin
    r = admin.create_topics([
        NewTopic(topic, partitions, 1, topic_configs={"retention.ms": "86400000"}),
        NewTopic("kp-scratch", 1, 1),
    ])
    check(all(e == 0 for _, e, _ in r.topic_errors),
          "create_topics: %s" % (r.topic_errors,))
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        check(False, "creating an existing topic must fail")
    except TopicAlreadyExistsError:
        check(True, "creating an existing topic: TopicAlreadyExistsError")
    check(wait_for(lambda: {topic, "kp-scratch"} <= set(admin.list_topics())),
          "list_topics shows the new topics")

    res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = {e[0]: e[1] for e in res[0].resources[0][4]}
    check(entries.get("retention.ms") == "86400000",
          "describe_configs retention.ms = %s" % entries.get("retention.ms"))
    check(entries.get("cleanup.policy") == "delete",
          "describe_configs cleanup.policy = %s" % entries.get("cleanup.policy"))

    r = admin.create_partitions({"kp-scratch": NewPartitions(total_count=4)})
    check(all(e[1] == 0 for e in r.topic_errors),
          "create_partitions kp-scratch -> 4: %s" % (r.topic_errors,))

    r = admin.delete_topics(["kp-scratch"])
    check(all(e == 0 for _, e in r.topic_error_codes),
          "delete_topics kp-scratch: %s" % (r.topic_error_codes,))
    check(wait_for(lambda: "kp-scratch" not in admin.list_topics()),
          "kp-scratch is gone")
    try:
        admin.delete_topics(["kp-scratch"])
        check(False, "deleting a missing topic must fail")
    except UnknownTopicOrPartitionError:
        check(True, "deleting a missing topic: UnknownTopicOrPartitionError")

    # --- producer (gzip)
    producer = KafkaProducer(bootstrap_servers=bs, compression_type="gzip",
                             acks=1, linger_ms=5, client_id="sluice-kp-test")
    n = 3000
    t0 = int(time.time() * 1000) - 600000  # timestamps 10 minutes ago, 1 ms apart
    futures = []
    sent = {}
    for i in range(n):
        key = b"k-%d" % i
        value = (b"value-%d-" % i) * (1 + i % 5)
        p = i % partitions
        futures.append(producer.send(topic, key=key, value=value, partition=p,
                                     timestamp_ms=t0 + i))
        sent[(key, value)] = (p, t0 + i)
    producer.flush(timeout=30)
    metas = [f.get(timeout=30) for f in futures]
    per = {}
    for m in metas:
        per.setdefault(m.partition, []).append(m.offset)
    contiguous = all(sorted(v) == list(range(len(v))) for v in per.values())
    check(len(metas) == n and contiguous,
          "producer (gzip): %d acknowledged, offsets contiguous per partition" % len(metas))
    producer.close(timeout=10)

    # --- consumer (manual assignment)
    consumer = KafkaConsumer(bootstrap_servers=bs, client_id="sluice-kp-test",
                             enable_auto_commit=False, consumer_timeout_ms=3000,
                             check_crcs=True)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    got = {}
    for m in consumer:
        got[(m.key, m.value)] = (m.partition, m.timestamp)
        if len(got) == n:
            break
    check(got == sent, "consumer read back %d of %d messages with keys, values, "
          "partitions and timestamps intact" % (len(got), n))

    end = consumer.end_offsets(tps)
    begin = consumer.beginning_offsets(tps)
    check(all(end[tp] == n // partitions for tp in tps) and
          all(begin[tp] == 0 for tp in tps),
          "beginning/end offsets %s / %s" % (list(begin.values()), list(end.values())))

    # Seek by timestamp: record i has timestamp t0 + i, so the first record
    # at or after t0 + 1500 in partition p is i = 1500 (p = 0), 1501 (p = 1),
    # 1502 (p = 2), at offset i // 3.
    ts = t0 + 1500
    found = consumer.offsets_for_times({tp: ts for tp in tps})
    want = {tp: (1500 + tp.partition) // partitions for tp in tps}
    check(all(found[tp] is not None and found[tp].offset == want[tp] for tp in tps),
          "offsets_for_times(t0+1500) = %s" % ({tp.partition: (found[tp].offset if found[tp] else None) for tp in tps},))
    future = consumer.offsets_for_times({tps[0]: int(time.time() * 1000) + 3600000})
    check(future[tps[0]] is None, "offsets_for_times(future) = None")

    consumer.seek(tps[1], found[tps[1]].offset)
    consumer.assign([tps[1]])
    consumer.seek(tps[1], found[tps[1]].offset)
    first = next(iter(consumer))
    check(first.offset == want[tps[1]] and first.timestamp == t0 + 1501,
          "seek by timestamp: first record offset %d timestamp t0+%d" %
          (first.offset, first.timestamp - t0))
    consumer.close()
    admin.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: kafka_python_test.py HOST:PORT", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
    print("passed" if failures == 0 else "FAILED (%d failures)" % failures)
    sys.exit(1 if failures else 0)
