CREATE TABLE `counters` (
	`name` text NOT NULL,
	`labels` text NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`name`, `labels`)
);
--> statement-breakpoint
CREATE TABLE `violations` (
	`key` text PRIMARY KEY NOT NULL,
	`invariant` integer NOT NULL,
	`message` text NOT NULL,
	`agent_ids` text NOT NULL,
	`bead_ids` text NOT NULL,
	`first_seen_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`last_reported_at` integer NOT NULL,
	`resolved_at` integer
);
--> statement-breakpoint
CREATE INDEX `violations_open` ON `violations` (`invariant`) WHERE resolved_at IS NULL;--> statement-breakpoint
ALTER TABLE `ticks` ADD `violations_open` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ticks` ADD `violations_new` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ticks` ADD `repairs` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ticks` ADD `phases` text;