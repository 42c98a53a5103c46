DROP INDEX `beads_status`;--> statement-breakpoint
ALTER TABLE `beads` ADD `archived_seq` integer;--> statement-breakpoint
CREATE INDEX `beads_working` ON `beads` (`archived_seq`) WHERE archived_seq IS NULL;--> statement-breakpoint
CREATE INDEX `beads_source` ON `beads` (`source_bead_id`) WHERE source_bead_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `beads_archived` ON `beads` (`updated_at`) WHERE archived_seq IS NOT NULL;--> statement-breakpoint
CREATE INDEX `beads_failed` ON `beads` (`updated_at`) WHERE status = 'failed';--> statement-breakpoint
ALTER TABLE `towns` ADD `finished` text DEFAULT '{}' NOT NULL;