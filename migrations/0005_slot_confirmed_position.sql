ALTER TABLE "outbox_relay_slot" ADD COLUMN "system_id" text;--> statement-breakpoint
ALTER TABLE "outbox_relay_slot" ADD COLUMN "timeline" bigint;--> statement-breakpoint
ALTER TABLE "outbox_relay_slot" ADD COLUMN "confirmed_lsn" "pg_lsn";--> statement-breakpoint
ALTER TABLE "outbox_relay_slot" ADD COLUMN "confirmed_at" timestamp with time zone;