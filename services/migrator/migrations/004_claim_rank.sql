-- Which delivery holds a task's claim, in the order the broker made them: (the message's attempt,
-- how often the broker had returned it). A claim from an older delivery, which can reach the
-- owner late (a consumer that lost its connection sends its claim again, or the owner's own
-- unacked copy comes back after a reconnect), must not take the task from a newer one.
ALTER TABLE tasks ADD COLUMN claim_rank INTEGER;
