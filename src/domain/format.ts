/** How the town writes times, durations, sizes and nouns in reasons, messages and errors. */
export const iso = (ms: number): string => new Date(ms).toISOString();
/** The longest error text kept (in the log, the outbox, a tick record, a dispatch result): enough to act on, never a whole page. */
export const MAX_ERROR_TEXT = 2_000;
export const clipError = (text: string): string => text.slice(0, MAX_ERROR_TEXT);
export const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;
/** Minutes to one decimal: 1.5 for 90 seconds. */
export const minutes = (ms: number): number => Math.round(ms / 6_000) / 10;
/** Hours to one decimal: 1.5 for 90 minutes. */
export const hours = (ms: number): number => Math.round((ms / 3_600_000) * 10) / 10;
export const MiB = 1024 * 1024;
/** Mebibytes to one decimal: 12.4 for 13,000,000 bytes. */
export const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;
/** "an admin token", "a read token", "an issue": the article a word takes (it never starts with a silent h or a "you" sound here). */
export const article = (word: string): string => `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
