// The broker against kcat (Debian's, built on librdkafka 2.0.x): an independent Kafka client
// written in C. Metadata listing, consuming what kafkajs produced, and kafkajs consuming what
// kcat produced. Skipped, saying so, only when kcat is not installed (CI installs it).

import { execFile, spawn, spawnSync } from 'node:child_process';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../events/broker/server.js';
import { removeTmpDirs, tmpDir, waitFor } from './helpers.js';

/** Bound on each kcat run: it should finish in well under a second. */
const KCAT_TIMEOUT_MS = 20_000;

const kcatInstalled = spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0;
if (!kcatInstalled)
  console.warn('kcat is not installed: skipping the kcat interoperability tests (apt-get install -y kcat)');

function kcat(args: string[], stdin?: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'kcat',
      args,
      { timeout: KCAT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kcat ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

// In CI (.ci/run installs kcat) a missing kcat is a failure, not a skip.
describe.runIf(!kcatInstalled && process.env.CI === 'true')('kcat in CI', () => {
  it('is installed', () => {
    expect(kcatInstalled, 'kcat must be installed in CI (apt-get install -y kcat)').toBe(true);
  });
});

describe.skipIf(!kcatInstalled)('kcat against the broker', () => {
  let broker: RunningBroker;
  let kafka: Kafka;
  let bootstrap: string;
  const producers: Producer[] = [];
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    broker = await startBroker({ dataDir: tmpDir(), port: 0 });
    bootstrap = `127.0.0.1:${broker.port}`;
    kafka = new Kafka({ clientId: 'kcat-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'from-kafkajs', numPartitions: 3 }] });
    await admin.disconnect();
  });

  afterAll(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    for (const p of producers) await p.disconnect().catch(() => undefined);
    await broker.close();
    removeTmpDirs();
  });

  it('kcat -L lists the broker at its bound port and the topics', async () => {
    const { stdout } = await kcat(['-b', bootstrap, '-L']);
    expect(stdout).toContain(`broker 1 at 127.0.0.1:${broker.port}`);
    expect(stdout).toContain('topic "from-kafkajs" with 3 partitions');
  });

  it('kcat reads what the kafkajs idempotent producer wrote, keys and values, in order per partition', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    await producer.connect();
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }));
    await producer.send({ topic: 'from-kafkajs', acks: -1, messages: messages.slice(0, 25) });
    await producer.send({ topic: 'from-kafkajs', acks: -1, messages: messages.slice(25) });

    const { stdout } = await kcat([
      '-b',
      bootstrap,
      '-C',
      '-t',
      'from-kafkajs',
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%k %s\n',
    ]);
    const lines = stdout.trim().split('\n');
    expect([...lines].sort()).toEqual(messages.map((m) => `${m.key} ${m.value}`).sort());
    // Within one key (one partition) the order is the production order.
    for (let k = 0; k < 5; k++) {
      const values = lines.filter((l) => l.startsWith(`k${k} `)).map((l) => Number(l.split(' ')[1]?.slice(1)));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('kafkajs reads what kcat -P wrote', async () => {
    const input = Array.from({ length: 20 }, (_, i) => `kk${i}:from kcat ${i}`).join('\n');
    await kcat(['-b', bootstrap, '-P', '-t', 'from-kcat', '-K:'], `${input}\n`);

    const got: { key: string; value: string; offset: number }[] = [];
    const consumer = kafka.consumer({ groupId: 'kcat-readers', heartbeatInterval: 100, maxWaitTimeInMs: 100 });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: ['from-kcat'], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push({
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          offset: Number(message.offset),
        });
      },
    });
    await waitFor(() => got.length >= 20, '20 messages from kcat');
    expect(got.map((g) => `${g.key}:${g.value}`)).toEqual(input.split('\n'));
    expect(got.map((g) => g.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('a kcat consumer group (librdkafka coordinator protocol) reads and commits', async () => {
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn('kcat', [
          '-b',
          bootstrap,
          '-G',
          'kcat-group',
          '-X',
          'auto.offset.reset=earliest',
          '-e',
          '-q',
          '-f',
          '%s\n',
          'from-kcat',
        ]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), KCAT_TIMEOUT_MS);
        child.on('error', reject);
        child.on('close', () => {
          clearTimeout(timer);
          resolve(out);
        });
      });
    const first = await run();
    expect(first.trim().split('\n')).toHaveLength(20);
    await waitFor(() => broker.broker.offsets.get('kcat-group', 'from-kcat', 0)?.offset === 20, 'kcat group commit');
  });
});
