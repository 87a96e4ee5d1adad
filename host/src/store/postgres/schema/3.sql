-- The A2A tasks still working, which every node looks through every few seconds for those
-- whose runner died: the index holds just them, so a look reads no finished task. (The
-- predicate is the look's WHERE clause, word for word, so the planner can use it.)
CREATE INDEX a2a_tasks_working ON a2a_tasks (token_id, id)
    WHERE (doc::jsonb ->> 'state') = 'working';
