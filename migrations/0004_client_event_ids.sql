-- Event ids clients sent move into their own namespace ("agent:…"), where new ones are stored, so no
-- client id can collide with one the town writes. Agent callbacks are the client-sent types; the
-- container_status events the town logs from heartbeats ("observed:…") are its own.
UPDATE `town_events` SET `event_id` = 'agent:' || `event_id`
  WHERE `type` IN ('agent_done', 'agent_completed', 'pr_status_changed', 'container_status') AND `event_id` NOT LIKE 'observed:%';
