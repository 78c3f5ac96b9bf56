-- Stops the rollout as `cygni abort` does: all traffic returns to the stable revision at once and
-- the new slot scales to zero.
obj.spec.abort = true
return obj
