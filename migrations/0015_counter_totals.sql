-- Numbered 0015 on the bench branch (0013 and 0014 are other branches'); the number is fixed at merge.
CREATE TABLE `counter_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`series` text NOT NULL
);
