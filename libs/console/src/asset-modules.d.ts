/** Vite's `?url` imports: the URL of the bundled (content-hashed) file. */
declare module '*.css?url' {
  const url: string;
  export default url;
}

/** A stylesheet imported for its effect: Vite bundles it with the chunk that imports it. */
declare module '*.css';
