"""Notifications from `driftwatch serve`: what is wrong with a target, and who hears of it.

`conditions` (pure) says what is wrong with a target and what changed, for the daemon's log
lines and the notifications alike; `memory` (pure) what each receiver was told; `messages`
(pure) the bodies they get; `delivery` (pure) the rules of sending; `queue` one receiver's
queue and worker; `notifications` the daemon's sink owning them all; `state_file` their
memory across restarts; `build` the notifiers from the settings.
"""
