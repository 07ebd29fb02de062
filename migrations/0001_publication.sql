-- The relay reads only inserts into the outbox: the deletes and updates it makes itself
-- (completion) never come back through the WAL stream.
CREATE PUBLICATION "outbox_relay_pub" FOR TABLE "outbox" WITH (publish = 'insert');
