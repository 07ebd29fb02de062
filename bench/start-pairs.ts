// The start alone: `node --import tsx bench/start-pairs.ts [--runs N] [--sink kafka|rabbitmq] <command>...`
// spawns each outbox-relay command in turn (the working tree's bin/outbox-relay, a baseline's
// launcher...), N rounds, and times spawn -> its `streaming` line, then stops it. One migrated
// database and slot for all, created by a first start that is not counted. The main bench times one
// start per run; alternating many starts is what tells a change of tens of milliseconds from noise.
import { parseArgs } from 'node:util';
import { relayEnv, startCommand } from '../test/kit/relay.js';
import { createTestDatabase } from '../test/kit/services.js';
import { percentile } from './stats.js';

const { values, positionals: commands } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '6' }, sink: { type: 'string', default: 'kafka' } },
});
const sink = values.sink === 'rabbitmq' ? 'rabbitmq' : 'kafka';
if (commands.length === 0) throw new Error('name at least one outbox-relay command, e.g. bin/outbox-relay');

const db = await createTestDatabase('start');
const env = relayEnv(db, {}, sink);

async function start(command: string): Promise<number> {
  const spawnedAt = performance.now();
  const relay = startCommand(command, ['run'], env);
  await relay.waitForLog('streaming');
  const seconds = (performance.now() - spawnedAt) / 1000;
  if ((await relay.stop('SIGTERM')) !== 0) throw new Error(`${command} did not stop cleanly`);
  return seconds;
}

try {
  await start(commands[0]!);
  const times = commands.map((): number[] => []);
  for (let run = 0; run < Number(values.runs); run++)
    for (const [i, command] of commands.entries()) times[i]!.push(await start(command));
  for (const [i, command] of commands.entries()) {
    const sorted = Float64Array.from(times[i]!).sort();
    const all = times[i]!.map((t) => t.toFixed(3)).join(' ');
    console.log(
      `${command}: median ${percentile(sorted, 50)!.toFixed(3)} s, least ${sorted[0]!.toFixed(3)} s (${all})`,
    );
  }
} finally {
  await db.drop();
}
