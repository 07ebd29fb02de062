// Node.js 20 has no global `navigator`; 21 and later define one ({ userAgent: 'Node.js/<major>' }).
// Without it pg, when it loads, builds a fetch Response to tell whether it runs in a Cloudflare
// Worker (pg/lib/stream.js), which loads Node's whole fetch implementation: ~40 ms of the relay's
// start here. The relay's entry (launch.ts) defines it as Node.js 21 does, before pg loads.
// test/unit/node-navigator.test.ts fails when pg no longer asks.

/** Defines `globalThis.navigator` as Node.js 21+ does, unless there is one; true if it did. */
export function defineNavigator(): boolean {
  if ('navigator' in globalThis) return false;
  const major = process.versions.node.split('.')[0]!;
  Object.defineProperty(globalThis, 'navigator', {
    value: Object.freeze({ userAgent: `Node.js/${major}` }),
    configurable: true,
    writable: true,
    enumerable: false,
  });
  return true;
}
