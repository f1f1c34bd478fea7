-- Tasks, newest-first listings (optionally by status or action), and the outbox sweep.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'retrying', 'completed', 'failed')),
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    processed_at INTEGER,
    -- When the task was last put in the queue (created, or replayed), and whether the broker
    -- has confirmed that message: the outbox the API's recovery sweep reads.
    queued_at INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    dead_lettered_at INTEGER
);

CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
CREATE INDEX tasks_by_status ON tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_by_action ON tasks (action, created_at DESC, id DESC);
CREATE INDEX tasks_by_processed ON tasks (status, processed_at);
CREATE INDEX tasks_unpublished ON tasks (queued_at) WHERE published = 0;

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);

-- Every message that reached the dead queue, poison included, so none is silently lost.
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT,
    reason TEXT NOT NULL,
    body TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_task ON dead_letters (task_id);
