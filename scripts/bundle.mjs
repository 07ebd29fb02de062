// `npm run build`'s second step: the outbox-relay command as one file, dist/outbox-relay.mjs, which
// bin/outbox-relay runs. Its entry is src/launch.ts, which sets up the process before loading the
// command line (cli.ts, and with it the libraries): a chunk of its own, loaded on demand. Node.js spent most of the relay's start resolving and reading its ~400
// modules one by one (0.55-0.8 s from process start to streaming here, 0.3-0.4 s bundled: bench/README.md).
// Left outside, loaded from node_modules as before: kafkajs (src/sinks/kafkajs-internals.ts swaps
// modules in its require cache), pg with pg-logical-replication and drizzle-orm (one pg for all three;
// the replication adapter reaches into pg-logical-replication's connection), the optional schema
// registry client, and what src/lazy-module.ts loads on first use. dist/index.js (tsc's output) stays
// the package's API for embedders.
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunks are named by content: those of an earlier build would pile up.
for (const file of readdirSync('dist', { withFileTypes: true }))
  if (file.name.startsWith('outbox-relay') && file.name.endsWith('.mjs')) rmSync(`dist/${file.name}`);

await build({
  entryPoints: { 'outbox-relay': 'src/launch.ts' },
  outdir: 'dist',
  // What the relay imports on demand (a broker's sink) stays a file of its own, loaded on demand:
  // kafkajs must load only after kafkajs-internals.ts prepared its module cache. In dist/ itself, so
  // paths relative to a module (the migrations) are the same as in tsc's output.
  splitting: true,
  chunkNames: 'outbox-relay-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['kafkajs', 'pg', 'pg-native', 'pg-logical-replication', 'drizzle-orm', '@confluentinc/*'],
  // CommonJS packages bundled into an ES module still call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
