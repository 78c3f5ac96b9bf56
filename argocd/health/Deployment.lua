-- Argo CD health of a cygni.io/v1alpha1 Deployment (one rollout of one App revision), read from
-- its phase once the operator has observed its current generation (a promote, abort, retry or
-- pause changes the spec). Plain Lua 5.1 with only Argo CD's libraries.
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

-- Each phase as Argo CD shows it. A superseded rollout is healthy: a newer revision replaced it
-- before it finished, which is how GitOps works, and nothing is broken.
local health = {
  Pending = "Progressing",
  Progressing = "Progressing",
  Paused = "Suspended",
  Succeeded = "Healthy",
  Superseded = "Healthy",
  Failed = "Degraded",
  Aborted = "Degraded",
}

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "the Deployment is being deleted"
  return hs
end

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to start the rollout"
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

-- Ready=False for any reason but a phase is the operator refusing (InvalidSpec) or failing to
-- act (an RBAC or Kubernetes error that persists); Converging only waits for an object.
local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "False" and health[ready.reason] == nil and
    ready.reason ~= "Converging" then
  hs.status = "Degraded"
  hs.message = ready.message
  return hs
end

local phase = status.phase
if phase == nil then
  phase = "Pending"
end
hs.status = health[phase]
if hs.status == nil then
  hs.status = "Unknown"
  hs.message = "unknown phase " .. phase
  return hs
end
if status.message ~= nil then
  hs.message = status.message
else
  hs.message = phase
end
return hs
