-- Argo CD health of a cygni.io/v1alpha1 App, read from the conditions the operator reports once
-- it has observed the App's current generation. Plain Lua 5.1 with only Argo CD's libraries.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- Ready=False reasons that mean the operator is still working towards Ready. Every other reason
-- (a failed or aborted rollout, InvalidSpec, RouteConflict, an AWS or RBAC refusal) needs a person.
local working = {Progressing = true, Accepted = true, Converging = true, Deleting = true}

local status = obj.status
local ready = nil
if status ~= nil then
  ready = condition(status, "Ready")
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if ready ~= nil and ready.reason == "Deleting" then
    hs.message = ready.message
  else
    hs.message = "the App is being deleted"
  end
  return hs
end

if status == nil or status.observedGeneration == nil or ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report on the App"
  return hs
end

local observed = tonumber(status.observedGeneration)
local generation = tonumber(obj.metadata.generation)
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation ..
    " (the status describes generation " .. observed .. ")"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.message
  return hs
end

if ready.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = ready.message
  return hs
end

if ready.status == "Unknown" or working[ready.reason] then
  hs.status = "Progressing"
  hs.message = ready.message
  return hs
end

hs.status = "Degraded"
hs.message = ready.message
return hs
