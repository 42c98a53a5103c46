CREATE TABLE `event_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`pending` integer NOT NULL,
	`events` integer NOT NULL,
	`bytes` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `town_events` ADD `lane` text;--> statement-breakpoint
CREATE INDEX `town_events_own_pending` ON `town_events` (`seq`) WHERE status = 'pending' AND lane = 'own';--> statement-breakpoint
-- Counted once, here, over what the log already holds; from now on every write keeps the row.
INSERT INTO `event_totals` (`id`, `pending`, `events`, `bytes`)
SELECT 1,
  coalesce(sum(status = 'pending'), 0),
  count(*),
  coalesce(sum(length(CAST(payload AS BLOB)) + length(CAST(event_id AS BLOB)) + length(type) + coalesce(length(CAST(agent_id AS BLOB)), 0) + coalesce(length(CAST(bead_id AS BLOB)), 0) + 24), 0)
FROM `town_events`;
