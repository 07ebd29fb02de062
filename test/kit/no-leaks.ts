// Loaded into every test file's process (scripts/test.sh: `node --import`): a file whose tests leave
// a connection open (a pool, a consumer, a broker client, a relay started in-process and not stopped)
// or a server listening fails when it exits, naming what is left. `--test-force-exit` ends the files
// without waiting for such handles; this makes a leak a failure instead of something it hides.
// Sockets already ended or destroyed by this side (a client whose close is still being acknowledged)
// are not leaks. Node lists the handles only through process._getActiveHandles(): if it goes away,
// the check fails every file, loudly (below), rather than passing silently.
interface Handle {
  readonly constructor: { readonly name: string };
  readonly remotePort?: number;
  readonly destroyed?: boolean;
  readonly writableEnded?: boolean;
  readonly listening?: boolean;
}

function leftOpen(): string[] {
  const list = (process as unknown as { _getActiveHandles?: () => Handle[] })._getActiveHandles;
  if (typeof list !== 'function') return ['(process._getActiveHandles is gone: update test/kit/no-leaks.ts)'];
  return list.call(process).flatMap((handle) => {
    if (handle.listening === true) return [`a server (${handle.constructor.name})`];
    const open =
      handle.remotePort !== undefined && handle.destroyed === false && handle.writableEnded === false;
    return open ? [`a connection to port ${handle.remotePort}`] : [];
  });
}

process.on('exit', () => {
  const left = leftOpen();
  if (left.length === 0) return;
  process.stderr.write(`the tests left open: ${left.join(', ')}\n`);
  process.exitCode = 1;
});
