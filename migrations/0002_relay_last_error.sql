ALTER TABLE "outbox_relay_slot" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "outbox_relay_slot" ADD COLUMN "last_error_at" timestamp with time zone;