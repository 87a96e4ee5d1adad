-- Records are JSON documents (they evolve by adding fields, read with serde's defaults),
-- with the columns that queries select, order or constrain on beside them. Ids compare
-- byte-wise (COLLATE "C"), as the embedded store orders them.

CREATE TABLE secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE users (
    id text PRIMARY KEY,
    doc text NOT NULL
);

CREATE TABLE agents (
    id text COLLATE "C" PRIMARY KEY,
    created_at_ns bigint NOT NULL,
    doc text NOT NULL
);

-- Lower-cased email -> agent.
CREATE TABLE emails (
    email text PRIMARY KEY,
    agent_id text NOT NULL
);

-- Keyed hash of an agent's API key; the key itself is never stored.
CREATE TABLE api_keys (
    agent_id text PRIMARY KEY,
    key_hash bytea NOT NULL UNIQUE
);

CREATE TABLE invites (
    code text PRIMARY KEY,
    doc text NOT NULL
);

CREATE TABLE connections (
    id text PRIMARY KEY,
    doc text NOT NULL
);

CREATE TABLE agent_connections (
    agent_id text NOT NULL,
    connection_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (agent_id, connection_id)
);

CREATE TABLE threads (
    id text COLLATE "C" PRIMARY KEY,
    connection_id text NOT NULL,
    doc text NOT NULL
);
CREATE INDEX threads_by_connection ON threads (connection_id, id);

-- `queued`: waiting in the recipient's queue for a poll to take it.
CREATE TABLE messages (
    id text PRIMARY KEY,
    seq bigserial UNIQUE,
    thread_id text NOT NULL,
    to_agent_id text NOT NULL,
    queued boolean NOT NULL,
    doc text NOT NULL
);
CREATE INDEX messages_by_thread ON messages (thread_id, seq);
CREATE INDEX messages_queued ON messages (to_agent_id, seq) WHERE queued;

-- The first message a sender sent with an Idempotency-Key; one row per (sender, key), so
-- racing sends with one key, on any nodes, store one message.
CREATE TABLE idempotency_keys (
    sender text NOT NULL,
    key text NOT NULL,
    message_id text NOT NULL,
    created_at_ns bigint NOT NULL,
    PRIMARY KEY (sender, key)
);

CREATE TABLE announcements (
    seq bigserial PRIMARY KEY,
    doc text NOT NULL
);

-- The last announcement handed to each agent.
CREATE TABLE announcement_cursors (
    agent_id text PRIMARY KEY,
    seq bigint NOT NULL
);

-- `conversation`: the chat or thread whose plugin call created the key (its quota).
CREATE TABLE plugin_memory (
    agent_id text NOT NULL,
    key text COLLATE "C" NOT NULL,
    conversation text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (agent_id, key)
);

-- agx_live_ tokens by the SHA-256 of their text; the token itself is never stored.
CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    hash bytea NOT NULL UNIQUE,
    created_at_ns bigint NOT NULL,
    doc text NOT NULL
);

CREATE TABLE chat_turns (
    agent_id text NOT NULL,
    chat_id text NOT NULL,
    seq bigserial,
    doc text NOT NULL,
    PRIMARY KEY (agent_id, chat_id, seq)
);

-- Kept in the clear: signing needs the secret itself.
CREATE TABLE webhook_secrets (
    agent_id text PRIMARY KEY,
    secret text NOT NULL
);

-- `due_ms`: when a pending delivery is next due (ms since the epoch); NULL once settled.
CREATE TABLE webhook_deliveries (
    id text COLLATE "C" PRIMARY KEY,
    agent_id text COLLATE "C" NOT NULL,
    seq bigserial,
    status text NOT NULL,
    due_ms bigint,
    doc text NOT NULL,
    body text NOT NULL
);
CREATE INDEX deliveries_by_agent ON webhook_deliveries (agent_id, seq);
CREATE INDEX deliveries_due ON webhook_deliveries (due_ms) WHERE due_ms IS NOT NULL;
CREATE INDEX deliveries_due_by_agent ON webhook_deliveries (agent_id, due_ms, id)
    WHERE due_ms IS NOT NULL;

-- A2A tasks under the token that made them (only it reads them); one per (token, agent,
-- messageId), so a repeated message returns the task it started.
CREATE TABLE a2a_tasks (
    token_id text NOT NULL,
    id text COLLATE "C" NOT NULL,
    agent text NOT NULL,
    message_id text NOT NULL,
    created_at_ns bigint NOT NULL,
    doc text NOT NULL,
    PRIMARY KEY (token_id, id),
    UNIQUE (token_id, agent, message_id)
);
