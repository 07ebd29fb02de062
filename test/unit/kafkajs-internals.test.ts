// The produce request and request frame the Kafka sink puts in kafkajs' place (kafkajs-internals.ts,
// on kafka-wire.ts): the same bytes as kafkajs' own, and tests that fail when a kafkajs upgrade moves
// the files they replace (the relay would then silently fall back to kafkajs' slower code).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  CONNECTION_MODULE,
  createProduceRequest,
  frameKafkajsRequest,
  installProduceEncoder,
  PRODUCE_MODULE,
  REQUEST_MODULE,
} from '../../src/sinks/kafkajs-internals.js';
import type { ProduceArgs, ProduceRequest, RequestFramer } from '../../src/sinks/kafkajs-internals.js';
import type { WireMessage } from '../../src/sinks/kafka-wire.js';

const require = createRequire(import.meta.url);
// kafkajs' own, taken before anything replaces them in the module cache.
const theirProduce = require(PRODUCE_MODULE) as ProduceRequest;
const theirFrame = require(REQUEST_MODULE) as RequestFramer;
const ourProduce = createProduceRequest(theirProduce);

const HEADERS = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  id: '8a1c2f5e-0000-4000-8000-000000000001',
  aggregate_type: 'order',
  aggregate_id: 'w1-a3',
  event_type: 'OrderPlaced',
  created_at: '2026-11-25T06:08:00.000Z',
};

const messages: WireMessage[] = [
  { value: '{}' },
  { key: 'order-42', value: '{"total": 4200}' },
  { key: 'w1-a3', value: `{"pad": "${'x'.repeat(300)}"}`, headers: HEADERS },
  { key: null, value: null, headers: {} },
  { key: Buffer.from([0, 1, 2, 255]), value: Buffer.alloc(700, 7), headers: { bin: Buffer.from('ok') } },
  { key: 'ünïcødé ✓', value: '{"emoji": "🚀"}', headers: { 'x-ünï': 'välue ✓', multi: ['a', 'b', 'c'] } },
  { value: 'x'.repeat(70_000), headers: { big: 'y'.repeat(20_000) } },
];

const many = Array.from({ length: 2_000 }, (_, i) => ({
  key: `w1-a${i % 37}`,
  value: `{"i": ${i}}`,
  headers: { ...HEADERS, aggregate_id: `w1-a${i % 37}` },
}));

const cases: [string, ProduceArgs][] = [
  ['one message', { acks: -1, timeout: 30_000, topicData: [topic('t', [[0, 0, [messages[1]!]]])] }],
  ['every kind of record', { acks: -1, timeout: 30_000, topicData: [topic('t', [[2, 17, messages]])] }],
  [
    'several topics and partitions, idempotent',
    {
      acks: -1,
      timeout: 5_000,
      producerId: '4711',
      producerEpoch: 3,
      topicData: [
        topic('outbox.order', [
          [0, 100, many.slice(0, 900)],
          [1, 2_147_483_000, many.slice(900)],
        ]),
        topic('outbox.ünï', [[5, 0, messages.slice(0, 3)]]),
      ],
    },
  ],
  [
    'transactional, producer id from the broker as text',
    {
      acks: -1,
      timeout: 30_000,
      transactionalId: 'outbox-relay-slot_1',
      producerId: '9007199254740993',
      producerEpoch: 32_000,
      topicData: [topic('t', [[0, 5, many.slice(0, 10)]])],
    },
  ],
  [
    'messages with timestamps of their own, some without',
    {
      acks: 1,
      timeout: 30_000,
      topicData: [
        topic('t', [
          [
            0,
            0,
            [
              { value: 'a', timestamp: '1764570000500' },
              { value: 'b' },
              { value: 'c', timestamp: 1764569000000 },
            ],
          ],
        ]),
      ],
    },
  ],
];

function topic(
  name: string,
  partitions: [number, number, readonly WireMessage[]][],
): ProduceArgs['topicData'][0] {
  return {
    topic: name,
    partitions: partitions.map(([partition, firstSequence, list]) => ({
      partition,
      firstSequence,
      messages: list,
    })),
  };
}

/** kafkajs stamps records without a timestamp with Date.now() as it encodes: hold the clock still. */
async function atFixedTime<T>(run: () => Promise<T>): Promise<T> {
  const now = Date.now;
  Date.now = () => 1_764_570_000_000;
  try {
    return await run();
  } finally {
    Date.now = now;
  }
}

describe('the produce request', () => {
  for (const [name, args] of cases) {
    test(`writes exactly kafkajs' bytes: ${name}`, async () => {
      const [ours, theirs] = await atFixedTime(async () => [
        (await ourProduce(args).encode()).buffer,
        (await theirProduce(args).encode()).buffer,
      ]);
      assert.equal(ours.length, theirs.length);
      assert.ok(ours.equals(theirs), 'same bytes');
    });
  }

  test('framed as kafkajs frames it, by kafkajs and by the one-buffer frame', async () => {
    for (const clientId of ['outbox-relay', 'ünï', null]) {
      for (const [name, args] of cases) {
        // Ours writes its body into the frame's buffer; a request kafkajs built is framed around it.
        for (const request of [ourProduce(args), theirProduce(args)]) {
          const frameArgs = { correlationId: 2_000_000_001, clientId, request };
          const theirs = await atFixedTime(() => theirFrame(frameArgs));
          const ours = await atFixedTime(() => frameKafkajsRequest(frameArgs));
          assert.ok(ours.buffer.equals(theirs.buffer), `${name}, client id ${String(clientId)}`);
        }
      }
    }
  });

  test('keeps what kafkajs asks of a request: api key, version, name, whether a response comes', () => {
    for (const acks of [-1, 0, 1]) {
      const ours = ourProduce({ ...cases[0]![1], acks });
      const theirs = theirProduce({ ...cases[0]![1], acks });
      assert.deepEqual(
        [ours.apiKey, ours.apiVersion, ours.apiName, ours.expectResponse()],
        [theirs.apiKey, theirs.apiVersion, theirs.apiName, theirs.expectResponse()],
      );
    }
  });

  test('leaves a compressed batch to kafkajs', async () => {
    const args = { ...cases[1]![1], compression: 1 };
    const [ours, theirs] = await atFixedTime(async () => [
      await ourProduce(args).encode(),
      await theirProduce(args).encode(),
    ]);
    // gzip output carries no timestamps of its own: the same input compresses to the same bytes.
    assert.ok(ours.buffer.equals(theirs.buffer));
  });
});

// installProduceEncoder() and the frame (installed with the batch helpers) rely on kafkajs' internal
// layout: these fail when a kafkajs upgrade moves the files they swap.
describe('installProduceEncoder', () => {
  test('the modules it replaces and the modules that take them are where the adapter expects', () => {
    for (const path of [PRODUCE_MODULE, REQUEST_MODULE, CONNECTION_MODULE]) {
      assert.ok(existsSync(require.resolve(path)), path);
    }
    // Versions 4 to 7 of the produce request extend version 3; the connection takes the frame.
    assert.match(
      readFileSync(require.resolve('kafkajs/src/protocol/requests/produce/v4/request'), 'utf8'),
      /require\('\.\.\/v3\/request'\)/,
    );
    assert.match(
      readFileSync(require.resolve(CONNECTION_MODULE), 'utf8'),
      /require\('\.\.\/protocol\/request'\)/,
    );
  });

  test('importing kafkajs does not load the produce request (so a later install takes effect)', async () => {
    await import('kafkajs');
    assert.equal(
      require.cache[require.resolve('kafkajs/src/protocol/requests/produce/v4/request')],
      undefined,
    );
  });

  test("after install, kafkajs' produce request (version 7, as against Kafka 4) is this module's", async () => {
    assert.equal(installProduceEncoder(), true);
    assert.equal(installProduceEncoder(), true, 'idempotent');
    const produceVersions = require('kafkajs/src/protocol/requests/produce') as {
      protocol(args: { version: number }): (args: ProduceArgs) => { request: ReturnType<ProduceRequest> };
    };
    const args = cases[2]![1];
    const { request } = produceVersions.protocol({ version: 7 })(args);
    assert.equal(request.apiVersion, 7);
    const [viaKafkajs, ours] = await atFixedTime(async () => [
      (await request.encode()).buffer,
      (await ourProduce(args).encode()).buffer,
    ]);
    assert.ok(viaKafkajs.equals(ours));
    // Ours answers `buffer` without copying: a copy would be a different object each time.
    const encoded = await request.encode();
    assert.equal(encoded.buffer, encoded.buffer);
  });
});
