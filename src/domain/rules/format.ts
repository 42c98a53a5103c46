/** How rules write times and durations in their reasons. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;
