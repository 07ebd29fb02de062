// TLS material for the broker clients: the PEM files named in the configuration, read when a sink is
// built. Node's tls options take the same three fields for every broker's client.
import { readFileSync } from 'node:fs';
import type { TlsFiles } from './config-fields.js';

export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return {
    ...(files.caFile === undefined ? {} : { ca: readFileSync(files.caFile, 'utf8') }),
    ...(files.certFile === undefined ? {} : { cert: readFileSync(files.certFile, 'utf8') }),
    ...(files.keyFile === undefined ? {} : { key: readFileSync(files.keyFile, 'utf8') }),
  };
}
