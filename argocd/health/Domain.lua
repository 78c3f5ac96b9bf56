-- Argo CD health of a cygni.io/v1alpha1 Domain, read from its Ready condition once the operator
-- has observed the Domain's current generation. Plain Lua 5.1 with only Argo CD's libraries.
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

-- Ready=False reasons that mean the operator is still working towards Ready: the ownership
-- claim, the certificate's validation and issue, the records and their propagation. Every other
-- reason (Conflict, InvalidSpec, AppNotFound, a certificate or zone problem, an AWS or RBAC
-- refusal) waits for a person to change something.
local working = {
  Claiming = true,
  CertificatePending = true,
  RecordsPending = true,
  Propagating = true,
  Accepted = true,
  Converging = true,
  Deleting = true,
}

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
    hs.message = "the Domain is being deleted"
  end
  return hs
end

if status == nil or status.observedGeneration == nil or ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report on the Domain"
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
elseif ready.status == "Unknown" or working[ready.reason] then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = ready.message
return hs
