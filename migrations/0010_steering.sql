DROP INDEX `beads_failed`;--> statement-breakpoint
ALTER TABLE `beads` ADD `last_failure` text;--> statement-breakpoint
CREATE INDEX `beads_status_changed` ON `beads` (`status`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `beads_rig_changed` ON `beads` (`rig_id`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `beads_changed` ON `beads` (`updated_at`,`id`);--> statement-breakpoint
ALTER TABLE `rigs` ADD `deleted_at` integer;--> statement-breakpoint
ALTER TABLE `towns` ADD `paused` text;--> statement-breakpoint
ALTER TABLE `towns` ADD `archive_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `town_events_bead` ON `town_events` (`bead_id`,`seq`) WHERE bead_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `town_events_agent` ON `town_events` (`agent_id`,`seq`) WHERE agent_id IS NOT NULL;--> statement-breakpoint
-- Archive numbers only grow: they start where the beads already archived left them.
UPDATE `towns` SET `archive_seq` = (SELECT coalesce(max(`archived_seq`), 0) FROM `beads`);
