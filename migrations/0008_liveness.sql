ALTER TABLE `beads` ADD `reopened_at` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `towns` ADD `progress_at` integer DEFAULT 0 NOT NULL;