-- Time: delayed tasks (`scheduled` until `run_at`), per-task time limits, the schedule a task
-- was fired by, and recurring schedules. SQLite cannot alter a CHECK constraint, so the tasks
-- table is rebuilt with `scheduled` among its statuses.
CREATE TABLE tasks_v3 (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('scheduled', 'queued', 'running', 'retrying', 'completed', 'failed')),
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
    -- When a delayed task is due (null: it was queued at once).
    run_at INTEGER,
    -- The attempt's time limit asked for on submission (null: the action's or the default).
    timeout_s REAL,
    -- The recurring schedule whose firing created the task.
    schedule TEXT
);

INSERT INTO tasks_v3 (
    id, action, data, status, result, error, attempts, created_at, started_at, processed_at,
    queued_at, published, dead_lettered_at, claim_token
)
SELECT
    id, action, data, status, result, error, attempts, created_at, started_at, processed_at,
    queued_at, published, dead_lettered_at, claim_token
FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_v3 RENAME TO tasks;

CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
CREATE INDEX tasks_by_status ON tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_by_action ON tasks (action, created_at DESC, id DESC);
CREATE INDEX tasks_by_processed ON tasks (status, processed_at);
CREATE INDEX tasks_unpublished ON tasks (queued_at) WHERE published = 0;
-- The dispatcher's question, "what is due next?", is one seek of this index.
CREATE INDEX tasks_due ON tasks (run_at) WHERE status = 'scheduled';

CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    data TEXT NOT NULL,
    -- Exactly one of cron (with its time zone) and every_s.
    cron TEXT,
    timezone TEXT,
    every_s REAL,
    timeout_s REAL,
    enabled INTEGER NOT NULL DEFAULT 1,
    next_run_at INTEGER NOT NULL,
    last_run_at INTEGER,
    last_task_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((cron IS NULL) != (every_s IS NULL))
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1;
