CREATE TABLE `usage` (
	`day` text NOT NULL,
	`rig_id` text NOT NULL,
	`role` text NOT NULL,
	`container_ms` integer NOT NULL,
	`dispatches` integer NOT NULL,
	PRIMARY KEY(`day`, `rig_id`, `role`)
);
--> statement-breakpoint
ALTER TABLE `agents` ADD `running_since` integer;--> statement-breakpoint
ALTER TABLE `beads` ADD `usage` text;--> statement-breakpoint
ALTER TABLE `ticks` ADD `rows_read` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ticks` ADD `rows_written` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `towns` ADD `budget_standing` text;