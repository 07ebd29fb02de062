// Processes and ports for the failover harness (replicated-postgres.ts): running a server tool to its
// exit, the children of a postmaster (to SIGKILL them all, as a host crash would), and whether a
// port still has a listener.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Runs a command to its exit. Not execFile: pg_ctl's server keeps a copy of the output pipes, so
 * waiting for them to close would wait for the server to stop.
 */
export function runToExit(command: string, args: string[], libraryPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, LD_LIBRARY_PATH: libraryPath },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      child.stderr.destroy();
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** The processes whose parent is `pid` (PostgreSQL's backends, walsenders and workers). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        // The fields after the command (which may hold spaces) start after its closing parenthesis.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === pid ? [Number(entry)] : [];
      } catch {
        return [];
      }
    });
}

/** Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, state 0A). */
export function portListening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(hex) === true && fields[3] === '0A';
    });
}
