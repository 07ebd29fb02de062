// The outbox-relay command's entry (scripts/bundle.mjs): sets up the process before any library
// loads, then runs the command line (cli.ts, loaded after: its libraries load with it).
import { defineNavigator } from './node-navigator.js';

defineNavigator();
await import('./cli.js');
