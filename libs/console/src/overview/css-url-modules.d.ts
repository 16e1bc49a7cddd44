/** Vite resolves `import url from './x.css?url'` to the built file's URL (linked, never inlined). */
declare module '*.css?url' {
  const url: string;
  export default url;
}
