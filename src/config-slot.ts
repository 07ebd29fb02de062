// The replication slot's settings, a section of src/config.ts's CORE_SETTINGS: its name and how it
// is kept across a failover of the primary (docs/postgres-setup.md "Failover of the primary").
import * as z from 'zod';
import { boolean, integer } from './config-fields.js';

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

export const SLOT_SETTINGS = {
  OUTBOX_SLOT: {
    field: 'slot',
    doc: 'logical replication slot (pgoutput); created when missing. Lower-case letters, digits, underscores. Instances with the same slot elect one leader',
    schema: z
      .string()
      .regex(SLOT_NAME, 'expected a slot name of lower-case letters, digits and underscores (at most 63)')
      .default('outbox_relay'),
  },
  OUTBOX_SLOT_FAILOVER: {
    field: 'slotFailover',
    doc: 'create the slot with `failover` (PostgreSQL 17+), so standbys with `sync_replication_slots = on` keep a copy that a promoted standby streams from; the relay refuses to start on an older server',
    schema: boolean.default(false),
  },
  OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR: {
    field: 'slotMaxRecreationsPerHour',
    doc: 'how many times an hour the relay drops an invalidated slot (`wal_removed`, `rows_removed`, `idle_timeout`), recreates it and sweeps the table; one more and it stops with an error naming the reason',
    schema: integer(0, 1_000).default(3),
  },
} as const;
