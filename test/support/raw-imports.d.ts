/// <reference types="vite/types/importMeta.d.ts" />
// Vite's `?raw` imports: the file's text; `import.meta.glob` (typed by the reference above) reads a folder of them.
declare module "*?raw" {
  const text: string;
  export default text;
}
