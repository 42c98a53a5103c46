CREATE TABLE `snapshot_parts` (
	`snapshot_id` integer NOT NULL,
	`part` integer NOT NULL,
	`data` text NOT NULL,
	PRIMARY KEY(`snapshot_id`, `part`)
);
--> statement-breakpoint
CREATE TABLE `snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`taken_at` integer NOT NULL,
	`tick_id` integer NOT NULL,
	`log_seq` integer NOT NULL,
	`pending` text NOT NULL,
	`parts` integer NOT NULL,
	`bytes` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `snapshots_taken_at` ON `snapshots` (`taken_at`);--> statement-breakpoint
ALTER TABLE `ticks` ADD `log_seq` integer;--> statement-breakpoint
ALTER TABLE `ticks` ADD `drained_seqs` text;