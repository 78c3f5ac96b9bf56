-- Starts an aborted or failed rollout again from its first step, as `cygni retry` does: the
-- attempt counter makes one retry one change.
obj.spec.abort = false
obj.spec.retryAttempt = (tonumber(obj.spec.retryAttempt) or 0) + 1
return obj
