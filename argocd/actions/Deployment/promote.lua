-- Completes the step the rollout waits on (a pause, an analysis, a blue-green promotion, the
-- scale-down delay) as `cygni promote` does: spec.promoteStep names the step, so running it twice
-- is harmless.
if obj.status == nil or obj.status.currentStepIndex == nil then
  error("nothing to promote yet: the rollout has not started its steps")
end
obj.spec.promoteStep = obj.status.currentStepIndex
return obj
