-- Which rollout controls Argo CD offers on a cygni.io/v1alpha1 Deployment: each is enabled
-- exactly when `cygni promote [--full]`, `abort`, `retry`, `pause` or `resume` would patch it.
-- Plain Lua 5.1 with only Argo CD's libraries.
local actions = {}
for _, name in ipairs({"promote", "promote-full", "abort", "retry", "pause", "resume"}) do
  actions[name] = {disabled = true}
end

local spec = obj.spec
local strategy = spec.strategy or {}
-- A rolling Deployment is rolled out in place by ECS: it has no steps to control.
if strategy.canary == nil and strategy.blueGreen == nil then
  return actions
end

local status = obj.status or {}
local phase = status.phase or "Pending"
local terminal = phase == "Succeeded" or phase == "Failed" or phase == "Aborted" or
  phase == "Superseded"

-- The kinds of the rollout's steps, as the operator numbers them: a canary's steps as written,
-- then all traffic and the scale-down delay; a blue-green's preview, pre-promotion analysis,
-- promotion, switch, post-promotion analysis and scale-down delay.
local kinds = {}
if strategy.canary ~= nil then
  for _, step in ipairs(strategy.canary.steps or {}) do
    if step.setWeight ~= nil then
      table.insert(kinds, "setWeight")
    elseif step.setCanaryScale ~= nil then
      table.insert(kinds, "setCanaryScale")
    elseif step.pause ~= nil then
      table.insert(kinds, "pause")
    elseif step.analysis ~= nil then
      table.insert(kinds, "analysis")
    end
  end
  table.insert(kinds, "setWeight")
  table.insert(kinds, "scaleDownDelay")
else
  local bg = strategy.blueGreen
  table.insert(kinds, "preview")
  if bg.prePromotionAnalysis ~= nil then
    table.insert(kinds, "analysis")
  end
  table.insert(kinds, "promotion")
  table.insert(kinds, "switch")
  if bg.postPromotionAnalysis ~= nil then
    table.insert(kinds, "analysis")
  end
  table.insert(kinds, "scaleDownDelay")
end

-- Steps that wait for time, analysis or a person; a step that waits on AWS completes by itself.
local waits = {pause = true, promotion = true, analysis = true, scaleDownDelay = true}

if not terminal then
  local index = tonumber(status.currentStepIndex)
  if index ~= nil and index >= 0 and kinds[index + 1] ~= nil then
    -- A rollout held by an inconclusive background metric is paused at any kind of step.
    local held = phase == "Paused" and spec.paused ~= true
    if (waits[kinds[index + 1]] or held) and tonumber(spec.promoteStep) ~= index then
      actions["promote"].disabled = false
    end
  end
  actions["promote-full"].disabled = spec.promoteFull == true
  actions["abort"].disabled = spec.abort == true
  actions["pause"].disabled = spec.paused == true
  actions["resume"].disabled = spec.paused ~= true
end
actions["retry"].disabled = phase ~= "Failed" and phase ~= "Aborted"

return actions
