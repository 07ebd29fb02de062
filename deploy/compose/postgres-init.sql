-- Runs once, when the postgres container initialises its data directory (as the superuser `app`).
-- The relay's own role, as docs/postgres-setup.md describes: it may log in and stream (REPLICATION),
-- and `outbox-relay migrate` creates the tables (it owns them), the publication and drizzle's schema.
CREATE ROLE outbox_relay LOGIN REPLICATION PASSWORD 'outbox_relay';
GRANT CREATE ON DATABASE app TO outbox_relay;
GRANT USAGE, CREATE ON SCHEMA public TO outbox_relay;
-- The application writes events: let its role insert into the outbox the relay will create (the
-- superuser `app` here needs no grant; an ordinary application role does).
ALTER DEFAULT PRIVILEGES FOR ROLE outbox_relay IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO app;
