CREATE TABLE `counter_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`series` text NOT NULL
);
