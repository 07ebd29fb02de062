// Runs the polling relay (bench/poller.ts) as a child process and follows its progress lines.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from '../test/kit/services.js';
import { waitFor } from '../test/kit/wait.js';

export interface PollerOptions {
  readonly databaseUrl: string;
  readonly env: Record<string, string>;
  readonly batch: number;
  readonly intervalMs: number;
}

export class BenchPoller {
  /** Rows published and deleted so far. */
  completed = 0;
  private readonly output: string[] = [];
  private ready = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | string>,
  ) {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(options: PollerOptions): Promise<BenchPoller> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/poller.ts',
        '--batch',
        String(options.batch),
        '--interval-ms',
        String(options.intervalMs),
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: options.databaseUrl,
          LOG_LEVEL: 'warn',
          ...options.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
    const poller = new BenchPoller(child, exited);
    const early = exited.then((code) => {
      throw new Error(`polling relay exited with ${code}:\n${poller.output.slice(-20).join('\n')}`);
    });
    early.catch(() => undefined);
    await Promise.race([
      waitFor('the polling relay to start', () => poller.ready, { timeoutMs: 60_000 }),
      early,
    ]);
    return poller;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0)
      throw new Error(`polling relay exited with ${code}:\n${this.output.slice(-20).join('\n')}`);
  }

  private onLine(line: string): void {
    try {
      const message = JSON.parse(line) as { ready?: boolean; completed?: number };
      if (message.ready) this.ready = true;
      if (message.completed !== undefined) this.completed = message.completed;
    } catch {
      this.output.push(line);
    }
  }
}
