/** How rules write times and durations in their reasons. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;
/** "an admin token", "a read token", "an issue": the article a word takes (it never starts with a silent h or a "you" sound here). */
export const article = (word: string): string => `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
