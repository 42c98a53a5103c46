// Types for the bundle drizzle-kit writes next to this file (migrations.js).
declare const bundle: {
  journal: { entries: Array<{ idx: number; when: number; tag: string; version: string; breakpoints: boolean }> };
  migrations: Record<string, string>;
};
export default bundle;
