// tests/conformance/kafkajs_test.js BOOTSTRAP TOPIC — KafkaJS (a Kafka client
// in pure JavaScript, from npm) against sluice-broker: admin create topic
// and metadata, an idempotent producer (acks=all) sending keyed records
// plain and gzip-compressed, a consumer group reading every record back
// byte-exact and in order per partition, committed offsets equal to the
// end offsets, and topic deletion. Exits 1 with a message on any mismatch
// and after 90 s in any case.
'use strict';
const path = require('path');
const modules = process.env.KAFKAJS_MODULES;
const { Kafka, logLevel, CompressionTypes } = require(
  modules ? path.join(modules, 'kafkajs') : 'kafkajs');

const [bootstrap, topic] = process.argv.slice(2);
if (!bootstrap || !topic) {
  console.error('usage: node kafkajs_test.js BOOTSTRAP TOPIC');
  process.exit(2);
}
const PARTITIONS = 3;
const RECORDS = 3000;
const group = `${topic}-group`;

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}
setTimeout(() => fail('no result within 90 s'), 90000).unref();

// Values of varying size, some with bytes outside ASCII.
function valueFor(i) {
  const body = Buffer.alloc(1 + (i * 37) % 700);
  for (let j = 0; j < body.length; j++) body[j] = (i * 131 + j * 7) & 0xff;
  return body;
}

(async () => {
  const kafka = new Kafka({ clientId: 'sluice-kafkajs', brokers: [bootstrap],
                            logLevel: logLevel.NOTHING,
                            retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  if (!created) fail('createTopics reported the topic as existing');
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  const parts = md.topics[0].partitions;
  if (parts.length !== PARTITIONS) fail(`metadata lists ${parts.length} partitions`);
  console.log(`created ${topic} with ${parts.length} partitions, leader ${parts[0].leader}`);

  // Idempotent producer: acks=all (-1), one in-flight request, sequence
  // numbers per partition; half the records gzip-compressed.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = new Map(); // key -> value (hex), keys are unique
  for (let start = 0; start < RECORDS; start += 500) {
    const messages = [];
    for (let i = start; i < start + 500; i++) {
      const key = `key-${i}`;
      const value = valueFor(i);
      sent.set(key, value.toString('hex'));
      messages.push({ key, value, partition: i % PARTITIONS });
    }
    const compression = (start / 500) % 2 ? CompressionTypes.GZIP
                                          : CompressionTypes.None;
    await producer.send({ topic, messages, acks: -1, compression });
  }
  await producer.disconnect();
  console.log(`produced ${RECORDS} records (idempotent, acks=all, plain and gzip)`);

  const ends = await admin.fetchTopicOffsets(topic);
  const total = ends.reduce((s, o) => s + Number(o.high), 0);
  if (total !== RECORDS) fail(`end offsets add up to ${total}`);

  // A consumer group reads everything back and commits.
  const consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = new Map();
  const lastOffset = new Map();
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key.toString();
        const off = Number(message.offset);
        const prev = lastOffset.has(partition) ? lastOffset.get(partition) : -1;
        if (off !== prev + 1) reject(new Error(
          `partition ${partition}: offset ${off} after ${prev}`));
        lastOffset.set(partition, off);
        if (got.has(key)) reject(new Error(`${key} delivered twice`));
        got.set(key, message.value.toString('hex'));
        if (Number(key.slice(4)) % PARTITIONS !== partition)
          reject(new Error(`${key} read from partition ${partition}`));
        if (got.size === RECORDS) resolve();
      },
    }).catch(reject);
  });
  for (const [key, value] of sent)
    if (got.get(key) !== value) fail(`${key} read back different`);
  console.log(`group ${group} consumed all ${RECORDS} records byte-exact, in order per partition`);
  await consumer.commitOffsets(ends.map((o) => ({ topic, partition: o.partition,
                                                  offset: o.high })));
  await consumer.disconnect();

  const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  for (const p of committed[0].partitions) {
    const end = ends.find((o) => o.partition === p.partition);
    if (p.offset !== end.high)
      fail(`partition ${p.partition}: committed ${p.offset}, end ${end.high}`);
  }
  console.log('committed offsets equal the end offsets');

  await admin.deleteTopics({ topics: [topic] });
  const left = await admin.listTopics();
  if (left.includes(topic)) fail('the topic is still listed after deleteTopics');
  console.log('deleted the topic');
  await admin.disconnect();
  process.exit(0);
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
