-- ticks and town_events without AUTOINCREMENT, whose counter (sqlite_sequence) was a row written on every
-- insert. Ids still never go back: retention keeps each table's newest row, and the highest id each had
-- given is kept in id_floors for a table retention had already emptied. (No foreign keys name either table.)
-- A tick's record also holds what the steps after its transaction counted (after_counters).
CREATE TABLE `id_floors` (
	`name` text PRIMARY KEY NOT NULL,
	`last` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `id_floors` (`name`, `last`) SELECT `name`, `seq` FROM `sqlite_sequence` WHERE `name` IN ('ticks', 'town_events');--> statement-breakpoint
CREATE TABLE `__new_ticks` (
	`id` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`result` text NOT NULL,
	`error` text,
	`duration_ms` integer NOT NULL,
	`passes` integer NOT NULL,
	`events_drained` integer NOT NULL,
	`events_applied` integer NOT NULL,
	`events_ignored` integer NOT NULL,
	`events_failed` integer NOT NULL,
	`events_dead_lettered` integer NOT NULL,
	`actions_emitted` integer NOT NULL,
	`actions_refused` integer NOT NULL,
	`repairs` integer DEFAULT 0 NOT NULL,
	`effects_enqueued` integer NOT NULL,
	`effects_attempted` integer NOT NULL,
	`effects_succeeded` integer NOT NULL,
	`effects_failed` integer NOT NULL,
	`queue_depth` integer NOT NULL,
	`oldest_pending_age_ms` integer,
	`dead_letters` integer NOT NULL,
	`violations_open` integer DEFAULT 0 NOT NULL,
	`violations_new` integer DEFAULT 0 NOT NULL,
	`rows_read` integer DEFAULT 0 NOT NULL,
	`rows_written` integer DEFAULT 0 NOT NULL,
	`first_seq` integer,
	`last_seq` integer,
	`actions_by_type` text NOT NULL,
	`actions_by_rule` text NOT NULL,
	`breaker_status` text NOT NULL,
	`next_alarm_at` integer,
	`next_alarm_reason` text,
	`phases` text,
	`log_seq` integer,
	`drained_seqs` text,
	`actions` text,
	`observations` text,
	`after_counters` text
);
--> statement-breakpoint
INSERT INTO `__new_ticks`("id", "at", "result", "error", "duration_ms", "passes", "events_drained", "events_applied", "events_ignored", "events_failed", "events_dead_lettered", "actions_emitted", "actions_refused", "repairs", "effects_enqueued", "effects_attempted", "effects_succeeded", "effects_failed", "queue_depth", "oldest_pending_age_ms", "dead_letters", "violations_open", "violations_new", "rows_read", "rows_written", "first_seq", "last_seq", "actions_by_type", "actions_by_rule", "breaker_status", "next_alarm_at", "next_alarm_reason", "phases", "log_seq", "drained_seqs", "actions", "observations", "after_counters") SELECT "id", "at", "result", "error", "duration_ms", "passes", "events_drained", "events_applied", "events_ignored", "events_failed", "events_dead_lettered", "actions_emitted", "actions_refused", "repairs", "effects_enqueued", "effects_attempted", "effects_succeeded", "effects_failed", "queue_depth", "oldest_pending_age_ms", "dead_letters", "violations_open", "violations_new", "rows_read", "rows_written", "first_seq", "last_seq", "actions_by_type", "actions_by_rule", "breaker_status", "next_alarm_at", "next_alarm_reason", "phases", "log_seq", "drained_seqs", "actions", "observations", "after_counters" FROM `ticks`;--> statement-breakpoint
DROP TABLE `ticks`;--> statement-breakpoint
ALTER TABLE `__new_ticks` RENAME TO `ticks`;--> statement-breakpoint
CREATE INDEX `ticks_at` ON `ticks` (`at`);--> statement-breakpoint
CREATE TABLE `__new_town_events` (
	`seq` integer PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`agent_id` text,
	`bead_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`processed_at` integer,
	`lane` text
);
--> statement-breakpoint
INSERT INTO `__new_town_events`("seq", "event_id", "type", "agent_id", "bead_id", "payload", "created_at", "status", "attempts", "last_error", "processed_at", "lane") SELECT "seq", "event_id", "type", "agent_id", "bead_id", "payload", "created_at", "status", "attempts", "last_error", "processed_at", "lane" FROM `town_events`;--> statement-breakpoint
DROP TABLE `town_events`;--> statement-breakpoint
ALTER TABLE `__new_town_events` RENAME TO `town_events`;--> statement-breakpoint
CREATE UNIQUE INDEX `town_events_event_id` ON `town_events` (`event_id`);--> statement-breakpoint
CREATE INDEX `town_events_own_pending` ON `town_events` (`seq`) WHERE status = 'pending' AND lane = 'own';--> statement-breakpoint
CREATE INDEX `town_events_pending` ON `town_events` (`seq`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `town_events_dead` ON `town_events` (`seq`) WHERE status = 'dead';--> statement-breakpoint
CREATE INDEX `town_events_processed_at` ON `town_events` (`processed_at`);--> statement-breakpoint
CREATE INDEX `town_events_bead` ON `town_events` (`bead_id`,`seq`) WHERE bead_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `town_events_agent` ON `town_events` (`agent_id`,`seq`) WHERE agent_id IS NOT NULL;