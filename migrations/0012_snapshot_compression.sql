CREATE TABLE `snapshot_chunks` (
	`snapshot_id` integer NOT NULL,
	`part` integer NOT NULL,
	`data` blob NOT NULL,
	PRIMARY KEY(`snapshot_id`, `part`)
);
--> statement-breakpoint
ALTER TABLE `snapshots` ADD `encoding` text DEFAULT 'json' NOT NULL;