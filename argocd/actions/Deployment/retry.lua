-- Starts an aborted or failed rollout again from its first step, as `cygni retry` does: the
-- attempt counter makes one retry one change. Refused on any other phase, as the CLI refuses it:
-- a counter raised early would retry the rollout the moment it failed.
local phase = "Pending"
if obj.status ~= nil and obj.status.phase ~= nil then
  phase = obj.status.phase
end
if phase ~= "Failed" and phase ~= "Aborted" then
  error("nothing to retry: " .. obj.metadata.name .. " is " .. phase ..
    "; only an aborted or failed rollout can be retried")
end
obj.spec.abort = false
obj.spec.retryAttempt = (tonumber(obj.spec.retryAttempt) or 0) + 1
return obj
