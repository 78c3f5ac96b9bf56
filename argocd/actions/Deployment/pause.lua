-- Holds the rollout at its current step, as `cygni pause` does. A timed pause keeps counting.
obj.spec.paused = true
return obj
