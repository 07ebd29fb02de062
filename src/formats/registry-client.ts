// The only module that imports a schema registry client: Confluent's own (@confluentinc/schemaregistry),
// behind the RegistryClient interface. It caches ids per subject and schema itself; its retries are
// off, since SchemaIds retries an unreachable registry forever with the relay's backoff. Loaded on
// first use, so a relay without SCHEMA_REGISTRY_URL never loads it.
import type { SchemaRegistryClient } from '@confluentinc/schemaregistry/dist/schemaregistry-client.js';
import type { RegistryClient, RegistrySchema, SchemaRegistrySettings } from './schema-registry.js';
import { RegistryHttpError } from './schema-registry.js';

/** How long one request may take before it counts as an outage. */
const REQUEST_TIMEOUT_MS = 10_000;

export function createRegistryClient(settings: SchemaRegistrySettings): RegistryClient {
  let client: Promise<SchemaRegistryClient> | undefined;
  const connect = (): Promise<SchemaRegistryClient> =>
    (client ??= import('@confluentinc/schemaregistry/dist/schemaregistry-client.js').then(
      ({ SchemaRegistryClient }) =>
        new SchemaRegistryClient({
          baseURLs: [...settings.urls],
          maxRetries: 0,
          createAxiosDefaults: { timeout: REQUEST_TIMEOUT_MS },
          basicAuthCredentials:
            settings.userInfo === undefined
              ? undefined
              : { credentialsSource: 'USER_INFO', userInfo: settings.userInfo },
        }),
    ));
  const call = async <T>(request: (client: SchemaRegistryClient) => Promise<T>): Promise<T> => {
    const registry = await connect();
    try {
      return await request(registry);
    } catch (error) {
      throw httpError(error) ?? error;
    }
  };
  return {
    register: (subject, schema) => call((registry) => registry.register(subject, info(schema))),
    lookup: (subject, schema) => call((registry) => registry.getId(subject, info(schema))),
  };
}

const info = ({ schemaType, schema }: RegistrySchema) => ({ schemaType, schema });

/** The client's RestError (the registry answered) as ours; undefined for anything else (no answer). */
function httpError(error: unknown): RegistryHttpError | undefined {
  if (!(error instanceof Error) || !('status' in error) || !('errorCode' in error)) return undefined;
  return typeof error.status === 'number' ? new RegistryHttpError(error.message, error.status) : undefined;
}
