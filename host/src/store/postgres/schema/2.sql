-- The operator's lists are read a page at a time, oldest first (announcements use their
-- primary key): each page reads its own rows only.
CREATE INDEX agents_by_age ON agents (created_at_ns, id);
CREATE INDEX tokens_by_age ON tokens (created_at_ns, id);
