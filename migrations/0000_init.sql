CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`rig_id` text NOT NULL,
	`role` text NOT NULL,
	`status` text NOT NULL,
	`status_since` integer NOT NULL,
	`hook` text,
	`generation` integer NOT NULL,
	`dispatch_attempts` integer NOT NULL,
	`dispatched_at` integer,
	`last_heartbeat_at` integer,
	`container_status` text,
	`container_status_since` integer,
	`observed_at` integer,
	`observed_container_status` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `beads` (
	`id` text PRIMARY KEY NOT NULL,
	`rig_id` text,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`title` text NOT NULL,
	`body` text,
	`priority` integer NOT NULL,
	`assignee` text,
	`dispatch_attempts` integer NOT NULL,
	`last_dispatch_at` integer,
	`held` integer NOT NULL,
	`source_bead_id` text,
	`branch` text,
	`pr_url` text,
	`merged` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `beads_status` ON `beads` (`status`);--> statement-breakpoint
CREATE TABLE `dependencies` (
	`bead_id` text NOT NULL,
	`depends_on_id` text NOT NULL,
	`kind` text NOT NULL,
	`ordinal` integer NOT NULL,
	PRIMARY KEY(`bead_id`, `kind`, `depends_on_id`)
);
--> statement-breakpoint
CREATE TABLE `outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`agent_id` text NOT NULL,
	`payload` text NOT NULL,
	`attempts` integer NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `outbox_next_attempt` ON `outbox` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `rigs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`git_url` text NOT NULL,
	`default_branch` text NOT NULL,
	`agent_seq` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `simulated_runs` (
	`agent_id` text PRIMARY KEY NOT NULL,
	`generation` integer NOT NULL,
	`bead_id` text NOT NULL,
	`role` text NOT NULL,
	`branch` text NOT NULL,
	`finish_at` integer NOT NULL,
	`outcome` text NOT NULL,
	`last_heartbeat_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ticks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
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
	`first_seq` integer,
	`last_seq` integer,
	`actions_emitted` integer NOT NULL,
	`actions_refused` integer NOT NULL,
	`actions_by_type` text NOT NULL,
	`actions_by_rule` text NOT NULL,
	`effects_enqueued` integer NOT NULL,
	`effects_attempted` integer NOT NULL,
	`effects_succeeded` integer NOT NULL,
	`effects_failed` integer NOT NULL,
	`queue_depth` integer NOT NULL,
	`oldest_pending_age_ms` integer,
	`dead_letters` integer NOT NULL,
	`breaker_status` text NOT NULL,
	`next_alarm_at` integer,
	`next_alarm_reason` text,
	`actions` text,
	`observations` text
);
--> statement-breakpoint
CREATE INDEX `ticks_at` ON `ticks` (`at`);--> statement-breakpoint
CREATE TABLE `town_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`agent_id` text,
	`bead_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`processed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `town_events_event_id` ON `town_events` (`event_id`);--> statement-breakpoint
CREATE INDEX `town_events_pending` ON `town_events` (`seq`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `town_events_dead` ON `town_events` (`seq`) WHERE status = 'dead';--> statement-breakpoint
CREATE INDEX `town_events_processed_at` ON `town_events` (`processed_at`);--> statement-breakpoint
CREATE TABLE `towns` (
	`id` text PRIMARY KEY NOT NULL,
	`config` text NOT NULL,
	`agent_token_hash` text NOT NULL,
	`breaker` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
