-- Cancel, priority lanes and progress. A CHECK constraint cannot be altered in SQLite, so the
-- table is rebuilt (https://sqlite.org/lang_altertable.html#otheralter) to admit `cancelled`;
-- it keeps every column and index of the migrations before it.
CREATE TABLE tasks_new (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'queued', 'scheduled', 'running', 'retrying', 'completed', 'failed', 'cancelled'
    )),
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    processed_at INTEGER,
    queued_at INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    dead_lettered_at INTEGER,
    claim_token TEXT,
    run_at INTEGER,
    timeout_s REAL,
    schedule TEXT,
    claim_rank INTEGER,
    -- Which work queue (lane) the task's messages go to.
    priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'high')),
    -- Set when a cancel reaches a running task: no later claim may run it, and a failed
    -- attempt ends `cancelled` rather than retrying.
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- The latest progress an action reported (fraction 0-1, message, when).
    progress REAL,
    progress_message TEXT,
    progress_at INTEGER
);
INSERT INTO tasks_new (
    id, action, data, status, result, error, attempts, created_at, started_at, processed_at,
    queued_at, published, dead_lettered_at, claim_token, run_at, timeout_s, schedule, claim_rank
)
SELECT
    id, action, data, status, result, error, attempts, created_at, started_at, processed_at,
    queued_at, published, dead_lettered_at, claim_token, run_at, timeout_s, schedule, claim_rank
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;

CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
CREATE INDEX tasks_by_status ON tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_by_action ON tasks (action, created_at DESC, id DESC);
CREATE INDEX tasks_by_processed ON tasks (status, processed_at);
CREATE INDEX tasks_unpublished ON tasks (queued_at) WHERE published = 0;
CREATE INDEX tasks_due ON tasks (run_at) WHERE status = 'scheduled';
CREATE INDEX tasks_by_priority ON tasks (priority, created_at DESC, id DESC);

-- A batch's tasks, so that its Idempotency-Key can answer with every id again.
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    task_ids TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
