-- Lets a rollout a user paused continue, as `cygni resume` does. It does not end a pause step:
-- promote does.
obj.spec.paused = false
return obj
