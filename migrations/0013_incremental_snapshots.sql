ALTER TABLE `snapshots` ADD `base_id` integer;--> statement-breakpoint
ALTER TABLE `snapshots` ADD `first_pending_seq` integer;