// Reads deploy/: YAML documents, Dockerfile instructions and .dockerignore rules, and type-checks
// Kubernetes manifests against the API's TypeScript types, all without Docker or a cluster.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../kit/services.js';

export const DEPLOY = join(ROOT, 'deploy');

/** Every document of a YAML file; a syntax error fails. */
export function readYaml(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    return document.toJS() as unknown;
  });
}

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/** Dockerfile -> stages of instructions (comments dropped, backslash continuations joined). */
export function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const args = new Map<string, string>();
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'FROM') {
      const [, image = '', name] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args) ?? [];
      stages.push({ from: image, name, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** The exec-form (JSON array) arguments of an instruction, or undefined in shell form. */
export function execForm(instruction: Instruction | undefined): string[] | undefined {
  if (!instruction?.args.startsWith('[')) return undefined;
  return JSON.parse(instruction.args) as string[];
}

/**
 * Whether .dockerignore keeps `path` in the build context. Supports what our file uses: `*` and
 * literal paths (a directory with a trailing slash), each optionally negated; the last match wins.
 */
export function inBuildContext(dockerignore: string, path: string): boolean {
  let kept = true;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, '');
    if (!/^(\*|[\w.-]+(\/[\w.-]+)*)$/.test(pattern))
      throw new Error(`unsupported .dockerignore rule ${line}`);
    if (pattern === '*' || path === pattern || path.startsWith(`${pattern}/`)) kept = negated;
  }
  return kept;
}

/** Where the Kubernetes models' types live, by kind. */
const KUBERNETES_TYPES: Record<string, string> = {
  ConfigMap: 'kubernetes-models/v1/ConfigMap',
  Secret: 'kubernetes-models/v1/Secret',
  Service: 'kubernetes-models/v1/Service',
  ServiceAccount: 'kubernetes-models/v1/ServiceAccount',
  Deployment: 'kubernetes-models/apps/v1/Deployment',
  PodDisruptionBudget: 'kubernetes-models/policy/v1/PodDisruptionBudget',
};

/**
 * Type-checks manifests as object literals of the Kubernetes API types (the API's OpenAPI schema
 * turned into TypeScript by kubernetes-models). Excess-property checks catch a misspelt or misplaced
 * field anywhere in the tree, which the models' own JSON-schema validators let through.
 */
export function kubernetesTypeErrors(
  manifests: readonly { kind: string; metadata?: { name?: string } }[],
): string[] {
  const file = join(ROOT, 'test', '.deploy-manifests.generated.ts');
  const firstLines: number[] = [];
  let source = '';
  manifests.forEach((manifest, index) => {
    const module = KUBERNETES_TYPES[manifest.kind];
    if (module === undefined) throw new Error(`no type for kind ${manifest.kind}`);
    firstLines.push(source.split('\n').length - 1);
    source += `export const m${index}: import('${module}').I${manifest.kind} = ${JSON.stringify(manifest, null, 1)};\n`;
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => {
    const line =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : 0;
    const index = firstLines.findLastIndex((first) => first <= line);
    const manifest = manifests[index];
    const what = manifest ? `${manifest.kind} ${manifest.metadata?.name ?? ''}` : 'manifests';
    return `${what}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}

export function mustExist(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  return path;
}
