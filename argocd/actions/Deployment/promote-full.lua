-- Skips every remaining step and analysis and sends all traffic to this revision, as
-- `cygni promote --full` does. The switch is still verified on the listener.
obj.spec.promoteFull = true
return obj
