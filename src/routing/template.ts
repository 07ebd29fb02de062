// Destination names such as "outbox.${aggregateType}", compiled once into string builders. No I/O.
import * as z from 'zod';
import type { OutboxEvent } from '../wal/event.js';

export const TEMPLATE_FIELDS = ['aggregateType', 'aggregateId', 'eventType'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

export interface Template {
  readonly source: string;
  readonly fields: readonly TemplateField[];
  render(event: OutboxEvent): string;
}

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/** Throws an Error naming the unknown field when the template uses one. */
export function compileTemplate(source: string): Template {
  const literals: string[] = [];
  const fields: TemplateField[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const field = match[1]!;
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(field)) {
      throw new Error(`unknown template field \${${field}} (expected one of ${TEMPLATE_FIELDS.join(', ')})`);
    }
    literals.push(source.slice(last, match.index));
    fields.push(field as TemplateField);
    last = match.index + match[0].length;
  }
  literals.push(source.slice(last));
  if (fields.length === 0) return { source, fields, render: () => source };
  return {
    source,
    fields,
    render(event) {
      let out = literals[0]!;
      for (let i = 0; i < fields.length; i++) out += event[fields[i]!] + literals[i + 1]!;
      return out;
    },
  };
}

// Metric labels must stay few: a name built from an aggregate id is reported by its template.
export function metricLabel(template: Template, rendered: string): string {
  return template.fields.includes('aggregateId') ? template.source : rendered;
}

/** A routes-file string holding a template: `what` names it in errors (`required: a topic name`). */
export const templateString = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `required: ${what}` : `expected ${what} as a string`),
    })
    .min(1, `expected a non-empty ${what}`)
    .superRefine((source, ctx) => {
      try {
        compileTemplate(source);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    });
