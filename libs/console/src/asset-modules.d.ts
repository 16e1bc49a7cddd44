/** Vite's `?url` imports: the URL of the bundled (content-hashed) file. */
declare module '*.css?url' {
  const url: string;
  export default url;
}
