-- The token of the delivery that claimed a task: consumers report through the broker, and a
-- report sent twice (its answer was lost) must find its own claim rather than claim again.
ALTER TABLE tasks ADD COLUMN claim_token TEXT;
